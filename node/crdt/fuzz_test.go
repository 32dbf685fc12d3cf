package crdt

import "testing"

// FuzzDecodeToken: any string decodes to a normalized context within the
// limits, or to ErrBadToken; never a panic. A decoded token encodes back to
// itself, written exactly as the general encoder writes it.
func FuzzDecodeToken(f *testing.F) {
	for _, c := range []Context{
		{},
		{VV: VersionVector{1: 3}},
		{VV: VersionVector{1: 3, 0xffffffffffffffff: 9}, Cloud: []Dot{{2, 5}, {2, 9}}},
		{Cloud: []Dot{{7, 2}}},
	} {
		f.Add(EncodeToken(c))
	}
	f.Add("")
	f.Add("!!")
	f.Add("oQGhAQM") // a vector written by hand
	f.Fuzz(func(t *testing.T, s string) {
		c, err := DecodeToken(s)
		if err != nil {
			return
		}
		if err := c.Check(); err != nil {
			t.Fatalf("decoded %+v fails Check: %v", c, err)
		}
		if !c.Same(c.Normalize()) {
			t.Fatalf("decoded %+v is not normalized", c)
		}
		checkAppendContext(t, c)
		again, err := DecodeToken(EncodeToken(c))
		if err != nil || !again.Same(c) {
			t.Fatalf("re-encoding %+v gives %+v, %v", c, again, err)
		}
	})
}
