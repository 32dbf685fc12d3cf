package main

import (
	"errors"
	"io/fs"
	"testing"
)

func TestContainerMemoryLimit(t *testing.T) {
	const v2, v1 = "/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"
	tests := []struct {
		name  string
		files map[string]string
		want  int64
		ok    bool
	}{
		{"no cgroup files", nil, 0, false},
		{"v2 limit", map[string]string{v2: "536870912\n"}, 536870912, true},
		{"v2 unlimited", map[string]string{v2: "max\n", v1: "1048576\n"}, 0, false},
		{"v1 limit", map[string]string{v1: "1073741824\n"}, 1073741824, true},
		{"v1 unlimited", map[string]string{v1: "9223372036854771712\n"}, 0, false},
		{"garbage", map[string]string{v2: "lots\n"}, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			read := func(path string) ([]byte, error) {
				if s, ok := tt.files[path]; ok {
					return []byte(s), nil
				}
				return nil, &fs.PathError{Op: "open", Path: path, Err: errors.New("no such file")}
			}
			got, ok := containerMemoryLimit(read)
			if got != tt.want || ok != tt.ok {
				t.Fatalf("containerMemoryLimit = %d, %v; want %d, %v", got, ok, tt.want, tt.ok)
			}
		})
	}
}
