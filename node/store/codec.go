package store

import (
	"fmt"

	"github.com/fxamacker/cbor/v2"
	bolt "go.etcd.io/bbolt"
)

var (
	encMode = func() cbor.EncMode {
		m, err := cbor.CoreDetEncOptions().EncMode()
		if err != nil {
			panic(err)
		}
		return m
	}()
	decMode = func() cbor.DecMode {
		m, err := cbor.DecOptions{MaxArrayElements: 1 << 24, MaxMapPairs: 1 << 24}.DecMode()
		if err != nil {
			panic(err)
		}
		return m
	}()
)

func marshal(v any) ([]byte, error) { return encMode.Marshal(v) }

func unmarshal(b []byte, v any) error { return decMode.Unmarshal(b, v) }

// getCBOR decodes the value at key into v, leaving v alone if key is absent.
func getCBOR(b *bolt.Bucket, key []byte, v any) error {
	raw := b.Get(key)
	if raw == nil {
		return nil
	}
	if err := unmarshal(raw, v); err != nil {
		return fmt.Errorf("decode %q: %w", key, err)
	}
	return nil
}

func putCBOR(b *bolt.Bucket, key []byte, v any) error {
	raw, err := marshal(v)
	if err != nil {
		return fmt.Errorf("encode %q: %w", key, err)
	}
	return b.Put(key, raw)
}
