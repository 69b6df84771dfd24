package tray

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"golang.org/x/sys/windows/registry"
)

// TestRunKey writes, reads back and removes the Run value (Wine's
// registry under CI), under a test-only name.
func TestRunKey(t *testing.T) {
	a := Autostart{Name: fmt.Sprintf("farmwatch-tray-test-%d", time.Now().UnixNano()%1e9), Exe: `C:\Program Files\farmwatch\farmwatch.exe`}
	where, err := InstallAutostart("windows", UserDirs{}, a)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { deleteRunValue(a.Name) })
	if want := `Software\Microsoft\Windows\CurrentVersion\Run\` + a.Name; where != want {
		t.Errorf("installed at %s, want %s", where, want)
	}
	k, err := registry.OpenKey(registry.CURRENT_USER, runKeyPath, registry.QUERY_VALUE)
	if err != nil {
		t.Fatal(err)
	}
	v, _, err := k.GetStringValue(a.Name)
	k.Close()
	if err != nil || v != `"C:\Program Files\farmwatch\farmwatch.exe" tray` {
		t.Fatalf("Run value %q %v", v, err)
	}
	if _, err := RemoveAutostart("windows", UserDirs{}, a); err != nil {
		t.Fatal(err)
	}
	k, err = registry.OpenKey(registry.CURRENT_USER, runKeyPath, registry.QUERY_VALUE)
	if err != nil {
		t.Fatal(err)
	}
	defer k.Close()
	if _, _, err := k.GetStringValue(a.Name); !errors.Is(err, registry.ErrNotExist) {
		t.Errorf("after remove: %v", err)
	}
	if _, err := RemoveAutostart("windows", UserDirs{}, a); err != nil {
		t.Errorf("removing an absent value: %v", err)
	}
}
