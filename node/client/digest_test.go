package client_test

import (
	"testing"

	"github.com/yzma/yzma/node/httpapi"
)

func TestDigest(t *testing.T) {
	c := serve(t, httpapi.Options{})
	empty, err := c.Digest(ctx(t))
	if err != nil || len(empty.Digest) != 64 || empty.Keys != 0 {
		t.Fatalf("Digest of an empty node = %+v, %v", empty, err)
	}
	if _, err := c.Put(ctx(t), "k", []byte("v"), ""); err != nil {
		t.Fatal(err)
	}
	d, err := c.Digest(ctx(t))
	if err != nil || d.Digest == empty.Digest || d.Keys != 1 {
		t.Fatalf("Digest after a write = %+v, %v (empty: %+v)", d, err, empty)
	}
}
