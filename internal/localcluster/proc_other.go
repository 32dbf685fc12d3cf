//go:build !linux

package localcluster

import "syscall"

// procAttr puts a child in its own process group; only Linux also has a
// parent-death signal.
func procAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}
