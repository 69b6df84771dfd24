//go:build windows

package geodrift

import (
	"context"
	"errors"
	"fmt"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"golang.org/x/sys/windows"
	"golang.org/x/sys/windows/registry"

	"github.com/farmwatch/farmwatch/detectors"
)

// These tests drive the real Windows APIs. CI runs them under Wine
// (bash .ci/wine-test.sh ./detectors/geodrift), where the process is
// administrator; with CI=true nothing may skip.

func TestNativeTimeZoneKeyName(t *testing.T) {
	key, err := windowsNative{}.TimeZoneKeyName(t.Context())
	if err != nil {
		t.Fatalf("TimeZoneKeyName: %v", err)
	}
	win, iana, err := windowsZoneName(key)
	if win == "" {
		t.Fatalf("empty TimeZoneKeyName %q", key)
	}
	// The host's zone may be one the table leaves out; what it maps to
	// must then be nothing rather than a guess.
	if err != nil && iana != "" {
		t.Errorf("%q: error %v but mapped to %q", win, err, iana)
	}
	t.Logf("TimeZoneKeyName %q -> %q", win, iana)
}

var bcp47 = regexp.MustCompile(`^[a-zA-Z]{2,3}(-[a-zA-Z0-9]{2,8})*$`)

func TestNativeLocale(t *testing.T) {
	name, src, err := windowsNative{}.Locale(t.Context())
	if err != nil {
		t.Fatalf("Locale: %v", err)
	}
	if !bcp47.MatchString(name) || !strings.HasPrefix(src, "Get") {
		t.Errorf("locale %q from %q, want a BCP 47 name from a Get…LocaleName call", name, src)
	}
	if n := normalizeLocale(name); n == name && strings.Contains(name, "-") {
		t.Errorf("normalizeLocale(%q) left it as is", name)
	}
}

// TestNativeKeyboardLayouts writes a layout into the current user's
// Preload key (HKCU is one of the hives loaded under HKEY_USERS) and
// expects it back, in slot order, with the hive it came from.
func TestNativeKeyboardLayouts(t *testing.T) {
	k, _, err := registry.CreateKey(registry.CURRENT_USER, preloadPath, registry.SET_VALUE|registry.QUERY_VALUE)
	if err != nil {
		if errors.Is(err, windows.ERROR_ACCESS_DENIED) && os.Getenv("CI") != "true" {
			t.Skipf("create HKCU\\%s: %v (with CI=true this fails)", preloadPath, err)
		}
		t.Fatalf("create HKCU\\%s: %v", preloadPath, err)
	}
	// Registered first, so it runs after the cleanups below that use k.
	t.Cleanup(func() { k.Close() })
	slot := fmt.Sprint(90 + os.Getpid()%9)
	old, _, oldErr := k.GetStringValue(slot)
	if err := k.SetStringValue(slot, "00000412"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if oldErr == nil {
			k.SetStringValue(slot, old)
			return
		}
		if err := k.DeleteValue(slot); err != nil {
			t.Errorf("delete test value %s: %v", slot, err)
		}
	})
	if err := k.SetStringValue("not-a-slot", "deadbeef"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { k.DeleteValue("not-a-slot") })

	got, err := windowsNative{}.KeyboardLayouts(t.Context())
	if err != nil {
		t.Fatalf("KeyboardLayouts: %v", err)
	}
	found := slices.IndexFunc(got, func(l KLID) bool { return l.ID == "00000412" && strings.HasPrefix(l.Hive, `HKU\S-1-5-`) })
	if found < 0 {
		t.Errorf("layouts %+v do not include the Korean layout written to HKCU", got)
	}
	for _, l := range got {
		if l.ID == "deadbeef" {
			t.Errorf("a value that is not a slot was read: %+v", l)
		}
	}
}

func TestNativeHonoursCancelledContext(t *testing.T) {
	cctx, stop := context.WithCancel(t.Context())
	stop()
	n := windowsNative{}
	if _, err := n.TimeZoneKeyName(cctx); err == nil {
		t.Error("TimeZoneKeyName ran with a cancelled context")
	}
	if _, _, err := n.Locale(cctx); err == nil {
		t.Error("Locale ran with a cancelled context")
	}
	if _, err := n.KeyboardLayouts(cctx); err == nil {
		t.Error("KeyboardLayouts ran with a cancelled context")
	}
}

// TestObserveWindowsEndToEnd runs Observe on the real Windows host (Wine
// in CI): the time zone, locale and layouts come from the APIs, the
// network from netinfo, the software from the registry.
func TestObserveWindowsEndToEnd(t *testing.T) {
	h := detectors.SystemHost(nil)
	obs, err := New().Observe(t.Context(), h)
	if obs == nil {
		t.Fatalf("Observe: %v", err)
	}
	o := obs.(*Observation)
	t.Logf("observation errors: %+v", o.Errors)
	if o.TimeZone.WindowsName == "" || o.Locale.Value == "" {
		t.Errorf("time zone %+v, locale %+v: want both read", o.TimeZone, o.Locale)
	}
	for _, e := range o.Errors {
		if strings.HasPrefix(e.Source, "time zone registry") || e.Source == "locale" || e.Source == "processes" || e.Source == "uninstall_keys" {
			t.Errorf("source %s unreadable: %s", e.Source, e.Error)
		}
	}
}
