//go:build !windows

package tray

import "errors"

var errNotWindows = errors.New("autostart: the Windows Run key can only be written on Windows")

func setRunValue(string, string) error { return errNotWindows }
func deleteRunValue(string) error      { return errNotWindows }
