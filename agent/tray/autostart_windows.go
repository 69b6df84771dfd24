package tray

import (
	"errors"
	"fmt"

	"golang.org/x/sys/windows/registry"
)

// setRunValue writes HKCU\...\Run\name.
func setRunValue(name, value string) error {
	k, _, err := registry.CreateKey(registry.CURRENT_USER, runKeyPath, registry.SET_VALUE)
	if err != nil {
		return fmt.Errorf("autostart: open HKCU\\%s: %w", runKeyPath, err)
	}
	defer k.Close()
	if err := k.SetStringValue(name, value); err != nil {
		return fmt.Errorf("autostart: set %s: %w", name, err)
	}
	return nil
}

// deleteRunValue removes HKCU\...\Run\name; absent is fine.
func deleteRunValue(name string) error {
	k, err := registry.OpenKey(registry.CURRENT_USER, runKeyPath, registry.SET_VALUE)
	if errors.Is(err, registry.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("autostart: open HKCU\\%s: %w", runKeyPath, err)
	}
	defer k.Close()
	if err := k.DeleteValue(name); err != nil && !errors.Is(err, registry.ErrNotExist) {
		return fmt.Errorf("autostart: delete %s: %w", name, err)
	}
	return nil
}
