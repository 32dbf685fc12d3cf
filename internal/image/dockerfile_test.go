package image

import (
	"archive/tar"
	"encoding/json"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/yzma/yzma/internal/controller"
)

// instruction is one Dockerfile instruction, continuation lines joined.
type instruction struct {
	cmd  string // upper case
	args string
}

// parseDockerfile splits a Dockerfile into instructions (no parser
// directives or heredocs: ours has none).
func parseDockerfile(t *testing.T, text string) []instruction {
	t.Helper()
	var out []instruction
	var cur strings.Builder
	for line := range strings.Lines(text) {
		line = strings.TrimRight(line, "\r\n")
		trimmed := strings.TrimSpace(line)
		if strings.HasPrefix(trimmed, "#") || trimmed == "" && cur.Len() == 0 {
			continue
		}
		if rest, ok := strings.CutSuffix(trimmed, "\\"); ok {
			cur.WriteString(strings.TrimSpace(rest) + " ")
			continue
		}
		cur.WriteString(trimmed)
		full := strings.TrimSpace(cur.String())
		cur.Reset()
		if full == "" {
			continue
		}
		cmd, args, _ := strings.Cut(full, " ")
		out = append(out, instruction{strings.ToUpper(cmd), strings.TrimSpace(args)})
	}
	if cur.Len() > 0 {
		t.Fatalf("Dockerfile ends in a continuation: %q", cur.String())
	}
	return out
}

// stages splits instructions at each FROM.
func stages(ins []instruction) [][]instruction {
	var out [][]instruction
	for _, in := range ins {
		if in.cmd == "FROM" {
			out = append(out, nil)
		}
		if len(out) > 0 {
			out[len(out)-1] = append(out[len(out)-1], in)
		}
	}
	return out
}

// dockerImage is what a Dockerfile's final stage makes: its regular files
// (absolute path → mode, 0 when Docker keeps the source's mode) and
// config.
type dockerImage struct {
	files      map[string]bool
	env        []string
	user       string
	workdir    string
	entrypoint []string
	cmd        []string
}

// finalStage interprets the final stage of the Dockerfile at root: COPY
// from the build context (files and directories, walked in the checkout)
// and from an earlier stage (files, named by their base name), ENV, USER,
// WORKDIR, ENTRYPOINT and CMD in exec form. Anything else fails the test,
// so a new instruction cannot slip by unchecked.
func finalStage(t *testing.T, root string, final []instruction) dockerImage {
	t.Helper()
	img := dockerImage{files: map[string]bool{}, workdir: "/"}
	if from := final[0].args; from != "scratch" {
		t.Errorf("final stage FROM %s: want scratch (every file of the image is listed here)", from)
	}
	execForm := func(in instruction) []string {
		var v []string
		if err := json.Unmarshal([]byte(in.args), &v); err != nil {
			t.Errorf("%s %s: want the exec (JSON) form: %v", in.cmd, in.args, err)
		}
		return v
	}
	for _, in := range final[1:] {
		switch in.cmd {
		case "COPY":
			fields := strings.Fields(in.args)
			var fromStage string
			for len(fields) > 0 && strings.HasPrefix(fields[0], "--") {
				flag, val, _ := strings.Cut(fields[0], "=")
				switch flag {
				case "--from":
					fromStage = val
				default:
					t.Errorf("COPY %s: flag %s not understood by this test", in.args, flag)
				}
				fields = fields[1:]
			}
			if len(fields) < 2 {
				t.Fatalf("COPY %s: want sources and a destination", in.args)
			}
			dest, srcs := fields[len(fields)-1], fields[:len(fields)-1]
			if len(srcs) > 1 && !strings.HasSuffix(dest, "/") {
				t.Errorf("COPY %s: several sources need a destination directory", in.args)
			}
			for _, src := range srcs {
				if fromStage != "" {
					// Files of the builder stage (the binaries).
					img.files[path.Join(dest, path.Base(src))] = true
					continue
				}
				local := filepath.Join(root, filepath.FromSlash(src))
				st, err := os.Stat(local)
				if err != nil {
					t.Fatalf("COPY %s: %v", in.args, err)
				}
				if !st.IsDir() {
					target := dest
					if strings.HasSuffix(dest, "/") {
						target = path.Join(dest, path.Base(src))
					}
					img.files[path.Clean(target)] = true
					continue
				}
				err = filepath.WalkDir(local, func(p string, d fs.DirEntry, err error) error {
					if err != nil || d.IsDir() {
						return err
					}
					rel, err := filepath.Rel(local, p)
					if err != nil {
						return err
					}
					img.files[path.Join(dest, filepath.ToSlash(rel))] = true
					return nil
				})
				if err != nil {
					t.Fatal(err)
				}
			}
		case "ENV":
			name, val, ok := strings.Cut(in.args, "=")
			if !ok || strings.ContainsAny(val, " \"'$") {
				t.Errorf("ENV %s: want one NAME=value without quotes or spaces", in.args)
			}
			img.env = append(img.env, name+"="+val)
		case "USER":
			img.user = in.args
		case "WORKDIR":
			img.workdir = in.args
		case "ENTRYPOINT":
			img.entrypoint = execForm(in)
		case "CMD":
			img.cmd = execForm(in)
		default:
			t.Errorf("final stage: %s %s is not understood by this test", in.cmd, in.args)
		}
	}
	return img
}

// TestDockerfileMatchesArchive checks that the Dockerfile builds the image
// this package builds: the same files in the final stage, the same
// config, and the binaries built alike in the builder stage.
func TestDockerfileMatchesArchive(t *testing.T) {
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	text, err := os.ReadFile(filepath.Join(root, "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	st := stages(parseDockerfile(t, string(text)))
	if len(st) < 2 {
		t.Fatalf("Dockerfile has %d stages, want a builder and the image", len(st))
	}
	docker := finalStage(t, root, st[len(st)-1])

	archive := writeYzma(t, DefaultTag)
	img, entries := imageEntries(t, archive, DefaultTag)
	var archiveFiles, dockerFiles []string
	for p, e := range entries {
		if e.typ != tar.TypeReg {
			continue // directories come with the files in both
		}
		archiveFiles = append(archiveFiles, p)
	}
	for p := range docker.files {
		dockerFiles = append(dockerFiles, p)
	}
	slices.Sort(archiveFiles)
	slices.Sort(dockerFiles)
	if !slices.Equal(archiveFiles, dockerFiles) {
		t.Errorf("files differ:\n  Dockerfile: %q\n  archive:    %q", dockerFiles, archiveFiles)
	}
	for _, c := range Commands {
		if e := entries["/"+c]; e.mode&0o111 == 0 {
			t.Errorf("/%s is not executable in the archive (mode %o)", c, e.mode)
		}
	}

	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	c := cf.Config
	for _, d := range []struct {
		what            string
		docker, archive any
	}{
		{"USER", docker.user, c.User},
		{"WORKDIR", docker.workdir, c.WorkingDir},
		{"ENTRYPOINT", docker.entrypoint, c.Entrypoint},
		{"CMD", docker.cmd, c.Cmd},
		{"ENV", docker.env, c.Env},
	} {
		if !equalJSON(d.docker, d.archive) {
			t.Errorf("%s: Dockerfile %q, archive %q", d.what, d.docker, d.archive)
		}
	}

	// The builder stage builds the same commands with the same flags.
	var build string
	for _, in := range st[len(st)-2] {
		if in.cmd == "RUN" && strings.Contains(in.args, "go build") {
			build = in.args
		}
	}
	if build == "" {
		t.Fatalf("no RUN go build in the builder stage")
	}
	want := []string{"CGO_ENABLED=0", "-trimpath", "-ldflags='-s -w'", "-buildvcs=false", "-o /out/"}
	for _, c := range Commands {
		want = append(want, "./cmd/"+c)
	}
	for _, w := range want {
		if !strings.Contains(build, w) {
			t.Errorf("the builder's go build lacks %q: %s", w, build)
		}
	}
	if !slices.Equal(BuildFlags, []string{"-trimpath", "-ldflags=-s -w", "-buildvcs=false"}) {
		t.Errorf("BuildFlags %q changed: update the Dockerfile's go build and this test", BuildFlags)
	}
}

// equalJSON compares two values as JSON, so that nil and empty lists are
// the same.
func equalJSON(a, b any) bool {
	norm := func(v any) string {
		data, _ := json.Marshal(v)
		s := string(data)
		if s == "null" || s == "[]" || s == `""` {
			return ""
		}
		return s
	}
	return norm(a) == norm(b)
}

// TestParseDockerfile covers the parser on the forms it accepts.
func TestParseDockerfile(t *testing.T) {
	ins := parseDockerfile(t, "# c\nFROM a AS b\nRUN x \\\n  y\n\ncopy --from=b /o/n /\n")
	want := []instruction{{"FROM", "a AS b"}, {"RUN", "x y"}, {"COPY", "--from=b /o/n /"}}
	if !slices.Equal(ins, want) {
		t.Errorf("parse = %q, want %q", ins, want)
	}
}

// TestDefaultTag: make image's tag (the Makefile's IMG), DefaultTag and
// the operator's default node image are one, so that the image built here
// is the one the operator's clusters run by default.
func TestDefaultTag(t *testing.T) {
	if DefaultTag != controller.DefaultImage {
		t.Errorf("DefaultTag %q, controller.DefaultImage %q", DefaultTag, controller.DefaultImage)
	}
	mk, err := os.ReadFile(filepath.Join("..", "..", "Makefile"))
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for line := range strings.Lines(string(mk)) {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "IMG ?="); ok {
			found = true
			if strings.TrimSpace(v) != DefaultTag {
				t.Errorf("Makefile: IMG ?=%s, want %s", v, DefaultTag)
			}
		}
	}
	if !found {
		t.Errorf("no IMG ?= in the Makefile")
	}
}
