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
//	    "SeedDNS": "", "GossipKey": ""
//	  },
//	  "Server": {"DBPath": "yzma.db"}
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
//	YZMA_GOSSIP_KEY                 Peering.GossipKey
//	YZMA_DB_PATH                    Server.DBPath
//
// Peering.SeedDNS and Peering.GossipKey are reserved for clustering: they are
// parsed and validated but not used yet.
package config
