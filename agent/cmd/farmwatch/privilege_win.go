//go:build windows

package main

import (
	"io/fs"

	"golang.org/x/sys/windows"
)

// runningAsAdmin: the process token is elevated.
func runningAsAdmin() bool { return windows.GetCurrentProcessToken().IsElevated() }

// fileOwner: Windows files have ACLs, not owner uids (the installer sets
// the state directory's ACL); doctor checks modes on unix only.
func fileOwner(fs.FileInfo) (int, bool) { return 0, false }

func ownerNote() string { return " (ACLs are set by the installer and not checked here)" }
