package config

import (
	"encoding/json"
	"reflect"
	"testing"
)

// FuzzConfigDecode feeds arbitrary files to the decoder. It must never
// panic, and a configuration that decodes and validates must survive
// json.Marshal and decoding again unchanged (so every field has a lossless
// JSON form, durations included). More seeds: testdata/fuzz/FuzzConfigDecode.
func FuzzConfigDecode(f *testing.F) {
	for _, seed := range []string{
		`{}`,
		`{"API": {"Bind": "127.0.0.1:9000", "ReadHeaderTimeout": "5s", "ReadTimeout": "1m30s", "IdleTimeout": "0s"}}`,
		`{"API": {"ReadTimeout": "-1s"}}`,
		`{"API": {"IdleTimeout": 120}}`,
		`{"Peering": {"DeadMemberGrace": "1.5h", "MaxLogBytes": 1}, "Server": {"MaxQueuedWrites": 1, "MaxQueuedBytes": 16777216}}`,
		`{"API": {"Bnid": "x"}}`,
		`{} {}`,
		`{"API": null, "Peering": {"Join": null}, "Server": null}`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		if len(raw) > MaxFileBytes {
			return // readFile refuses it before decoding
		}
		cfg := Default()
		if err := cfg.decode(raw); err != nil {
			return
		}
		if err := cfg.fillDefaults(); err != nil {
			t.Fatalf("fillDefaults: %v", err)
		}
		if err := cfg.Validate(); err != nil {
			return
		}
		b, err := json.Marshal(cfg)
		if err != nil {
			t.Fatalf("marshal a valid config: %v", err)
		}
		var back Config
		if err := back.decode(b); err != nil {
			t.Fatalf("decode %s: %v", b, err)
		}
		if !reflect.DeepEqual(back, cfg) {
			t.Fatalf("round trip through %s:\n got %+v\nwant %+v", b, back, cfg)
		}
		if err := back.Validate(); err != nil {
			t.Fatalf("valid config no longer valid after a round trip: %v", err)
		}
	})
}
