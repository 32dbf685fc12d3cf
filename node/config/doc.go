// Package config reads a Yzma node's configuration: a JSON file, then
// environment overrides, then defaults for whatever is still unset.
//
// The file has the seed product's schema, plus a few API settings:
//
//	{
//	  "API": {
//	    "Bind": "127.0.0.1:8080",
//	    "MaxBodyBytes": 16777216,
//	    "AuthToken": "", "AuthTokenFile": "",
//	    "TLSCertFile": "", "TLSKeyFile": ""
//	  },
//	  "Peering": {
//	    "Name": "<hostname>",
//	    "BindAddr": "0.0.0.0", "BindPort": 7946,
//	    "AdvertiseAddress": "", "AdvertisePort": 7946,
//	    "Join": ["host:port"],
//	    "SeedDNS": "", "DNSServer": "", "GossipKey": ""
//	  },
//	  "Server": {"DBPath": "yzma.db", "BindHost": ""}
//	}
//
// Every field is optional. Unknown fields are an error, so a misspelt setting
// is reported instead of silently ignored. The environment overrides the file:
//
//	YZMA_API_BIND                   API.Bind
//	YZMA_MAX_BODY_BYTES             API.MaxBodyBytes
//	YZMA_AUTH_TOKEN                 API.AuthToken
//	YZMA_AUTH_TOKEN_FILE            API.AuthTokenFile
//	YZMA_TLS_CERT_FILE              API.TLSCertFile
//	YZMA_TLS_KEY_FILE               API.TLSKeyFile
//	YZMA_PEERING_NAME               Peering.Name
//	YZMA_PEERING_BIND_ADDR          Peering.BindAddr
//	YZMA_PEERING_BIND_PORT          Peering.BindPort
//	YZMA_PEERING_ADVERTISE_ADDRESS  Peering.AdvertiseAddress
//	YZMA_PEERING_ADVERTISE_PORT     Peering.AdvertisePort
//	YZMA_PEERING_JOIN               Peering.Join (comma-separated host:port list)
//	YZMA_PEERING_SEED_DNS           Peering.SeedDNS
//	YZMA_DNS_SERVER                 Peering.DNSServer
//	YZMA_GOSSIP_KEY                 Peering.GossipKey
//	YZMA_DB_PATH                    Server.DBPath
//	YZMA_BIND_HOST                  Server.BindHost
//
// Clustering: the node joins the members in Peering.Join and those the A/AAAA
// records of Peering.SeedDNS name (on port Peering.BindPort, such as a
// headless Service's), and keeps joining any of them that is not a member
// (so pods that started at once, each alone, become one cluster). Names are
// looked up with the system resolver, or with the DNS server at
// Peering.DNSServer (host:port) when set. Peering.GossipKey, base64 of 16, 24
// or 32 bytes, encrypts gossip; members with different keys cannot talk.
//
// Server.BindHost, when set, must be an IP: it replaces an unspecified host
// ("", 0.0.0.0 or ::) in API.Bind and Peering.BindAddr, and becomes the
// default Peering.AdvertiseAddress when it replaced the BindAddr. A pod spec
// binds ":8080" in its own network namespace; run as processes sharing one
// host, each pod gets its own loopback IP through YZMA_BIND_HOST and the same
// configuration works unchanged.
package config
