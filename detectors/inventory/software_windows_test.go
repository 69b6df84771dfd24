//go:build windows

package inventory

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"

	"golang.org/x/sys/windows"
	"golang.org/x/sys/windows/registry"
)

// These tests write uninstall entries through the real registry, read
// them back and remove them. CI runs them under Wine (bash
// .ci/wine-test.sh ./detectors/inventory), where the process is
// administrator; with CI=true nothing may skip.

func needPermission(t *testing.T, op string, err error) {
	t.Helper()
	if err == nil {
		return
	}
	if errors.Is(err, windows.ERROR_ACCESS_DENIED) && os.Getenv("CI") != "true" {
		t.Skipf("%s: %v: needs administrator rights (with CI=true this fails)", op, err)
	}
	t.Fatalf("%s: %v", op, err)
}

// entry writes an uninstall entry under root and removes it when the test
// ends.
func entry(t *testing.T, root registry.Key, view uint32, name string, values map[string]any) {
	t.Helper()
	path := UninstallKeyPath
	if root == registry.CURRENT_USER {
		path = `Software\Microsoft\Windows\CurrentVersion\Uninstall`
	}
	parent, _, err := registry.CreateKey(root, path, registry.CREATE_SUB_KEY|registry.ENUMERATE_SUB_KEYS|view)
	needPermission(t, "create uninstall key", err)
	t.Cleanup(func() { parent.Close() })
	k, _, err := registry.CreateKey(parent, name, registry.SET_VALUE|view)
	needPermission(t, "create uninstall entry "+name, err)
	t.Cleanup(func() {
		if err := registry.DeleteKey(parent, name); err != nil {
			t.Errorf("delete uninstall entry %s: %v", name, err)
		}
	})
	defer k.Close()
	for n, v := range values {
		switch v := v.(type) {
		case string:
			err = k.SetStringValue(n, v)
		case uint32:
			err = k.SetDWordValue(n, v)
		}
		if err != nil {
			t.Fatalf("set %s\\%s: %v", name, n, err)
		}
	}
}

func TestWindowsSoftwareReadsUninstallEntries(t *testing.T) {
	id := func(kind string) string { return fmt.Sprintf("farmwatch-inventory-%d-%s", os.Getpid(), kind) }
	astrill := map[string]any{"DisplayName": "Astrill", "DisplayVersion": "3.10.0.3073", "Publisher": "Astrill",
		"InstallLocation": ` C:\Program Files (x86)\Astrill\ `}
	entry(t, registry.LOCAL_MACHINE, registry.WOW64_32KEY, id("machine32"), astrill)
	entry(t, registry.CURRENT_USER, 0, id("user"), map[string]any{"DisplayName": "NordVPN", "DisplayVersion": "7.2"})
	entry(t, registry.LOCAL_MACHINE, registry.WOW64_64KEY, id("hidden"), map[string]any{"DisplayName": "Hidden", "SystemComponent": uint32(1)})
	entry(t, registry.LOCAL_MACHINE, registry.WOW64_64KEY, id("nameless"), map[string]any{"Publisher": "nobody"})
	// The same entry in both registry views is listed once.
	both := map[string]any{"DisplayName": "AnyDesk", "DisplayVersion": "9.0.4", "Publisher": "AnyDesk Software GmbH", "InstallLocation": `C:\AnyDesk`}
	entry(t, registry.LOCAL_MACHINE, registry.WOW64_64KEY, id("both"), both)
	entry(t, registry.LOCAL_MACHINE, registry.WOW64_32KEY, id("both"), both)

	got, err := WindowsSoftware(t.Context())
	if err != nil {
		t.Errorf("WindowsSoftware: %v", err)
	}
	find := func(key string) []Software {
		var out []Software
		for _, s := range got {
			if s.ID == key {
				out = append(out, s)
			}
		}
		return out
	}
	want := Software{Name: "Astrill", Version: "3.10.0.3073", Publisher: "Astrill", ID: id("machine32"),
		Location: `C:\Program Files (x86)\Astrill\`, Source: "uninstall_key"}
	if s := find(id("machine32")); !slices.Equal(s, []Software{want}) {
		t.Errorf("32-bit machine entry: %+v, want [%+v]", s, want)
	}
	wantBoth := Software{Name: "AnyDesk", Version: "9.0.4", Publisher: "AnyDesk Software GmbH", ID: id("both"), Location: `C:\AnyDesk`, Source: "uninstall_key"}
	if s := find(id("both")); !slices.Equal(s, []Software{wantBoth}) {
		t.Errorf("entry in both views: %+v, want once [%+v]", s, wantBoth)
	}
	if s := find(id("user")); len(s) != 1 || s[0].Name != "NordVPN" {
		t.Errorf("per-user entry (read through HKEY_USERS): %+v", s)
	}
	for _, k := range []string{id("hidden"), id("nameless")} {
		if s := find(k); len(s) != 0 {
			t.Errorf("%s must be left out: %+v", k, s)
		}
	}
	hives, err := LoadedUserHives()
	if err != nil || !slices.ContainsFunc(hives, func(h string) bool { return strings.EqualFold(h, ".DEFAULT") }) {
		t.Errorf("hives %v, %v: want .DEFAULT among them", hives, err)
	}
	for _, h := range hives {
		if strings.HasSuffix(strings.ToLower(h), "_classes") {
			t.Errorf("hive list includes %s", h)
		}
	}
}

func TestWindowsSoftwareHonoursCancelledContext(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := WindowsSoftware(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("err %v, want context.Canceled", err)
	}
}
