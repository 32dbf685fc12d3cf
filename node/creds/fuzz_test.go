package creds_test

import (
	"testing"

	"github.com/yzma/yzma/node/creds"
)

// FuzzParse: no credential file panics a parser, and what parses keeps
// within the limits.
func FuzzParse(f *testing.F) {
	for _, s := range []string{"rw a\nro b\n", "a\n#c\n", "MDEyMzQ1Njc4OWFiY2RlZg==\n", "", "\x00\n", "rw  \n"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if tk, err := creds.ParseTokens(b); err == nil && tk.Empty() {
			t.Fatal("an empty token set parsed without error")
		}
		if s, err := creds.ParseSecrets(b); err == nil && (s.First() == "" || !s.Valid(s.First())) {
			t.Fatal("a parsed secret list does not accept its first secret")
		}
		if keys, err := creds.ParseGossipKeys(b); err == nil && (len(keys) == 0 || len(keys) > creds.MaxEntries) {
			t.Fatalf("%d keys parsed", len(keys))
		}
		_, _ = creds.FirstReadWrite(b)
	})
}
