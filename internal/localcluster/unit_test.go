package localcluster

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestExpand(t *testing.T) {
	vars := map[string]string{"A": "x", "POD_IP": "127.0.1.1"}
	lookup := func(k string) (string, bool) { v, ok := vars[k]; return v, ok }
	for in, want := range map[string]string{
		"plain":             "plain",
		"$(A)":              "x",
		"$(POD_IP):8080":    "127.0.1.1:8080",
		"$(MISSING)":        "$(MISSING)",
		"$$(A)":             "$(A)",
		"$$":                "$",
		"a$b":               "a$b",
		"$(A)$(A)-$(":       "xx-$(",
		"trailing$":         "trailing$",
		"$()":               "$()",
		"http://$(A)/$(A)x": "http://x/xx",
	} {
		if got := expand(in, lookup); got != want {
			t.Errorf("expand(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestImageLookup(t *testing.T) {
	m := map[string]string{"yzma": "/bin/node", "example.com/tools/helper": "/bin/helper"}
	for image, want := range map[string]string{
		"yzma":                           "/bin/node",
		"yzma:latest":                    "/bin/node",
		"ghcr.io/yzma/yzma:v1.2":         "/bin/node",
		"localhost:5000/yzma@sha256:abc": "/bin/node",
		"example.com/tools/helper:1":     "/bin/helper",
		"notyzma":                        "",
		"yzma/other":                     "",
	} {
		got, ok := lookupImage(m, image)
		if got != want || ok != (want != "") {
			t.Errorf("lookupImage(%q) = %q, %v; want %q", image, got, ok, want)
		}
	}
}

func TestPathRewrite(t *testing.T) {
	var m pathMap
	m.add("/var/lib/yzma", "/h/pvc")
	m.add("/var/lib/yzma/cache", "/h/cache")
	m.add("/etc/cfg/", "/h/cfg")
	for in, want := range map[string]string{
		"/var/lib/yzma":              "/h/pvc",
		"/var/lib/yzma/yzma.db":      "/h/pvc/yzma.db",
		"/var/lib/yzma/cache/x":      "/h/cache/x",
		"/var/lib/yzmaX":             "/var/lib/yzmaX",
		"--db=/var/lib/yzma/yzma.db": "--db=/h/pvc/yzma.db",
		"-c=/etc/cfg/a.json":         "-c=/h/cfg/a.json",
		"x=/var/lib/yzma":            "x=/var/lib/yzma",
		"relative/var/lib/yzma":      "relative/var/lib/yzma",
	} {
		if got := m.rewrite(in); got != want {
			t.Errorf("rewrite(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestTailOffset(t *testing.T) {
	data := []byte("a\nb\nc\n")
	for n, want := range map[int]string{0: "", 1: "c\n", 2: "b\nc\n", 3: "a\nb\nc\n", 10: "a\nb\nc\n"} {
		if got := string(data[tailOffset(data, n):]); got != want {
			t.Errorf("tail %d = %q, want %q", n, got, want)
		}
	}
	if got := string("x\ny"[tailOffset([]byte("x\ny"), 1):]); got != "y" {
		t.Errorf("tail without final newline = %q", got)
	}
}

func TestIPPool(t *testing.T) {
	p, err := newIPPool("127.3.1.253", "127.3.2.2")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for range 3 {
		ip, err := p.allocate()
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, ip)
	}
	if strings.Join(got, " ") != "127.3.1.253 127.3.1.254 127.3.2.1" {
		t.Errorf("allocated %v: want .255 and .0 skipped", got)
	}
	p.release("127.3.1.253")
	if ip, _ := p.allocate(); ip != "127.3.2.2" {
		t.Errorf("after a release got %s: want round robin, not reuse", ip)
	}
	if ip, _ := p.allocate(); ip != "127.3.1.253" {
		t.Errorf("at the end of the range got %s: want the released first address", ip)
	}
	if ip, err := p.allocate(); err == nil {
		t.Errorf("full pool gave %s", ip)
	}
	for _, bad := range []string{"127.0.0.1", "10.0.0.1", "::1"} {
		if _, err := newIPPool(bad, "127.255.255.254"); err == nil {
			t.Errorf("newIPPool(%s) accepted", bad)
		}
	}
}

func TestLeaseBlock(t *testing.T) {
	first1, last1, release1, err := leaseBlock()
	if err != nil {
		t.Fatal(err)
	}
	first2, _, release2, err := leaseBlock()
	if err != nil {
		t.Fatal(err)
	}
	defer release2()
	if first1 == first2 {
		t.Fatalf("two leases got the same block %s", first1)
	}
	if !strings.HasSuffix(first1, ".0.1") || !strings.HasSuffix(last1, ".255.254") {
		t.Errorf("block %s–%s", first1, last1)
	}
	release1()
	first3, _, release3, err := leaseBlock()
	if err != nil {
		t.Fatal(err)
	}
	defer release3()
	if first3 != first1 {
		t.Errorf("released block %s not reused (got %s)", first1, first3)
	}
}

func TestLogTail(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	lines := func(from, to int) string {
		var b strings.Builder
		for i := from; i <= to; i++ {
			fmt.Fprintf(&b, "l%d\n", i)
		}
		return b.String()
	}
	for _, tt := range []struct {
		name, content string
		bytes         int64
		lines         int
		want          string
	}{
		{"short", "a\nb\n", 2048, 80, "a\nb\n"},
		{"no newline at the end", "a\nb", 2048, 1, "b"},
		{"last lines", lines(1, 100), 2048, 80, lines(21, 100)},
		{"last bytes", strings.Repeat("y", 3000), 2048, 80, strings.Repeat("y", 2048)},
		{"empty", "", 2048, 80, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := string(logTail(write(tt.name, tt.content), tt.bytes, tt.lines)); got != tt.want {
				t.Errorf("%q, want %q", got, tt.want)
			}
		})
	}
	if got := logTail(filepath.Join(dir, "missing"), 10, 10); got != nil {
		t.Errorf("missing file: %q", got)
	}
}
