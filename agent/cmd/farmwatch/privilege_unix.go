//go:build !windows

package main

import (
	"io/fs"
	"os"
	"syscall"
)

// runningAsAdmin: the effective user is root.
func runningAsAdmin() bool { return os.Geteuid() == 0 }

// fileOwner is the uid owning fi.
func fileOwner(fi fs.FileInfo) (int, bool) {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return 0, false
	}
	return int(st.Uid), true
}

func ownerNote() string { return " (owned by root)" }
