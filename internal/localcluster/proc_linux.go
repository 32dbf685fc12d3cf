package localcluster

import "syscall"

// procAttr puts a child in its own process group (so the whole group can be
// signalled) and has the kernel kill it when the thread that started it
// dies, which for a Go program means when the process exits.
func procAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
