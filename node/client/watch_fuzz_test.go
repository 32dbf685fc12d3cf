package client

import (
	"strings"
	"testing"
)

// FuzzReadEvents: any stream parses without a panic into events whose
// fields hold no line break (except data, between its lines), and a stream
// the API writes parses back to its events.
func FuzzReadEvents(f *testing.F) {
	for _, seed := range []string{
		"id: a-1\nevent: put\ndata: {\"Key\":\"k\"}\n\n",
		": heartbeat\nid: a-2\n\n",
		"event: reset\ndata: {}\n\nevent: state\ndata: {}\n\nid: a-3\nevent: synced\ndata: {}\n\n",
		"data: one\ndata: two\n\n", "id\n\n", "::\n", "event:x", "\n\n\n", "id: \x00\n\n",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, stream string) {
		err := readEvents(strings.NewReader(stream), func(id, kind string, data []byte) error {
			if strings.ContainsAny(id+kind, "\n") {
				t.Fatalf("id %q or event %q holds a line break", id, kind)
			}
			if len(data) > len(stream) {
				t.Fatalf("data of %d bytes from a %d-byte stream", len(data), len(stream))
			}
			return nil
		})
		if err != nil && len(stream) < maxEventBytes {
			t.Fatalf("a %d-byte stream: %v", len(stream), err)
		}
	})
}

func TestReadEvents(t *testing.T) {
	stream := "id: a-1\nevent: put\ndata: {\"Key\":\"k\"}\n\n: heartbeat\nid: a-2\n\ndata: one\ndata: two\n\nevent: tail-without-blank-line\n"
	var got []string
	if err := readEvents(strings.NewReader(stream), func(id, kind string, data []byte) error {
		got = append(got, id+"|"+kind+"|"+string(data))
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	want := []string{`a-1|put|{"Key":"k"}`, "a-2||", "||one\ntwo"}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("events %q, want %q", got, want)
	}
}
