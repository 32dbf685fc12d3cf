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
//	    "TLSCertFile": "", "TLSKeyFile": "", "TLSCAFile": "", "AdvertiseName": "",
//	    "ReadHeaderTimeout": "10s", "ReadTimeout": "60s", "IdleTimeout": "2m"
//	  },
//	  "Peering": {
//	    "Name": "<hostname>",
//	    "BindAddr": "0.0.0.0", "BindPort": 7946,
//	    "AdvertiseAddress": "", "AdvertisePort": 7946,
//	    "Join": ["host:port"],
//	    "SeedDNS": "", "DNSServer": "", "GossipKey": "", "GossipKeyFile": "",
//	    "PeerToken": "", "PeerTokenFile": "",
//	    "JoinTimeout": "30s", "DeadMemberGrace": "1h", "MaxLogBytes": 1073741824
//	  },
//	  "Server": {"DBPath": "yzma.db", "BindHost": "",
//	             "MaxQueuedWrites": 4096, "MaxQueuedBytes": 268435456}
//	}
//
// Every field is optional. Unknown fields are an error, so a misspelt setting
// is reported instead of silently ignored; the file may be at most
// MaxFileBytes (1 MiB). Durations are strings for time.ParseDuration ("10s",
// "1m30s", "2h"); none may be negative. The environment overrides the file:
//
//	YZMA_API_BIND                   API.Bind
//	YZMA_MAX_BODY_BYTES             API.MaxBodyBytes
//	YZMA_AUTH_TOKEN                 API.AuthToken
//	YZMA_AUTH_TOKEN_FILE            API.AuthTokenFile
//	YZMA_TLS_CERT_FILE              API.TLSCertFile
//	YZMA_TLS_KEY_FILE               API.TLSKeyFile
//	YZMA_TLS_CA_FILE                API.TLSCAFile
//	YZMA_API_ADVERTISE_NAME         API.AdvertiseName
//	YZMA_READ_HEADER_TIMEOUT        API.ReadHeaderTimeout
//	YZMA_READ_TIMEOUT               API.ReadTimeout
//	YZMA_IDLE_TIMEOUT               API.IdleTimeout
//	YZMA_PEERING_NAME               Peering.Name
//	YZMA_PEERING_BIND_ADDR          Peering.BindAddr
//	YZMA_PEERING_BIND_PORT          Peering.BindPort
//	YZMA_PEERING_ADVERTISE_ADDRESS  Peering.AdvertiseAddress
//	YZMA_PEERING_ADVERTISE_PORT     Peering.AdvertisePort
//	YZMA_PEERING_JOIN               Peering.Join (comma-separated host:port list)
//	YZMA_PEERING_SEED_DNS           Peering.SeedDNS
//	YZMA_DNS_SERVER                 Peering.DNSServer
//	YZMA_GOSSIP_KEY                 Peering.GossipKey
//	YZMA_GOSSIP_KEY_FILE            Peering.GossipKeyFile
//	YZMA_PEER_TOKEN                 Peering.PeerToken
//	YZMA_PEER_TOKEN_FILE            Peering.PeerTokenFile
//	YZMA_JOIN_TIMEOUT               Peering.JoinTimeout
//	YZMA_DEAD_MEMBER_GRACE          Peering.DeadMemberGrace
//	YZMA_MAX_LOG_BYTES              Peering.MaxLogBytes
//	YZMA_DB_PATH                    Server.DBPath
//	YZMA_BIND_HOST                  Server.BindHost
//	YZMA_MAX_QUEUED_WRITES          Server.MaxQueuedWrites
//	YZMA_MAX_QUEUED_BYTES           Server.MaxQueuedBytes
//
// HTTP timeouts: API.ReadHeaderTimeout bounds reading a request's headers,
// API.ReadTimeout the whole request including its body, API.IdleTimeout how
// long a keep-alive connection may wait for its next request. "0s" turns one
// off (headers then stay bounded by API.ReadTimeout). There is no write
// timeout on purpose: the snapshot a joining peer streams and POST
// /cluster/leave may legitimately take minutes.
//
// Limits: Server.MaxQueuedWrites and Server.MaxQueuedBytes (at least
// API.MaxBodyBytes) bound the writes waiting to be committed.
// Peering.JoinTimeout is how long a starting node looks for its seeds
// before it starts alone; it takes no writes meanwhile.
// Peering.DeadMemberGrace is how long a member that died without leaving
// holds back log pruning; Peering.MaxLogBytes is the log size past which the
// log is pruned even for dead members, who then resync by snapshot.
//
// Clustering: the node joins the members in Peering.Join and those the A/AAAA
// records of Peering.SeedDNS name (on port Peering.BindPort, such as a
// headless Service's), and keeps joining any of them that is not a member
// (so pods that started at once, each alone, become one cluster). Names are
// looked up with the system resolver, or with the DNS server at
// Peering.DNSServer (host:port) when set. Peering.GossipKey, base64 of 16, 24
// or 32 bytes, encrypts gossip; members with different keys cannot talk.
//
// Security (see package node/creds): clients present a bearer token from
// API.AuthToken or API.AuthTokenFile (lines "rw <token>", "ro <token>");
// peers, on /internal/*, a client certificate that API.TLSCAFile verifies
// or a secret from Peering.PeerToken/PeerTokenFile. Client tokens without a
// peer credential are refused at start, since the cluster could not
// replicate. The *File settings are re-read when their files change, so a
// mounted Secret rotates without a restart; their lists let an old and a
// new value work at once during a rotation. Nothing set is the zero-config
// default for loopback; a node bound elsewhere without credentials starts
// but logs each hole (Config.Insecure) as a warning.
//
// Server.BindHost, when set, must be an IP: it replaces an unspecified host
// ("", 0.0.0.0 or ::) in API.Bind and Peering.BindAddr, and becomes the
// default Peering.AdvertiseAddress when it replaced the BindAddr. A pod spec
// binds ":8080" in its own network namespace; run as processes sharing one
// host, each pod gets its own loopback IP through YZMA_BIND_HOST and the same
// configuration works unchanged.
package config
