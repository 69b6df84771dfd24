//go:build windows

package inventory

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"golang.org/x/sys/windows/registry"
)

// UninstallKeyPath is where uninstall entries live under HKLM and under
// each user hive.
const UninstallKeyPath = `SOFTWARE\Microsoft\Windows\CurrentVersion\Uninstall`

// uninstallRoot is one place uninstall entries are read from.
type uninstallRoot struct {
	label string // for errors: "HKLM 64-bit", `HKU\S-1-5-21-…`
	root  registry.Key
	path  string
	view  uint32 // registry.WOW64_64KEY, WOW64_32KEY or 0
}

// WindowsSoftware lists uninstall entries from both registry views of
// HKLM and from every user hive loaded under HKEY_USERS. Entries without
// a DisplayName, and system components, are left out; an entry seen the
// same in several places is listed once. It only reads, and needs no
// administrator rights.
func WindowsSoftware(ctx context.Context) ([]Software, error) {
	roots := []uninstallRoot{
		{label: "HKLM 64-bit", root: registry.LOCAL_MACHINE, path: UninstallKeyPath, view: registry.WOW64_64KEY},
		{label: "HKLM 32-bit", root: registry.LOCAL_MACHINE, path: UninstallKeyPath, view: registry.WOW64_32KEY},
	}
	var errs []error
	sids, err := LoadedUserHives()
	if err != nil {
		errs = append(errs, err)
	}
	for _, sid := range sids {
		roots = append(roots, uninstallRoot{label: `HKU\` + sid, root: registry.USERS, path: sid + `\` + UninstallKeyPath})
	}

	var out []Software
	seen := make(map[Software]bool)
	for _, r := range roots {
		if err := ctx.Err(); err != nil {
			return out, errors.Join(append(errs, err)...)
		}
		entries, err := readUninstallKey(ctx, r)
		if err != nil {
			errs = append(errs, err)
		}
		for _, e := range entries {
			if !seen[e] {
				seen[e] = true
				out = append(out, e)
			}
		}
	}
	return out, errors.Join(errs...)
}

// LoadedUserHives lists the SIDs (and .DEFAULT) of the hives loaded under
// HKEY_USERS, without their "_Classes" companions.
func LoadedUserHives() ([]string, error) {
	k, err := registry.OpenKey(registry.USERS, "", registry.ENUMERATE_SUB_KEYS)
	if err != nil {
		return nil, fmt.Errorf("open HKEY_USERS: %w", err)
	}
	defer k.Close()
	names, err := k.ReadSubKeyNames(-1)
	if err != nil {
		return nil, fmt.Errorf("list HKEY_USERS: %w", err)
	}
	sids := names[:0]
	for _, n := range names {
		if !strings.HasSuffix(strings.ToLower(n), "_classes") {
			sids = append(sids, n)
		}
	}
	return sids, nil
}

// readUninstallKey reads the entries under one Uninstall key. A missing key
// is no error (a user without per-user installs, no 32-bit view).
func readUninstallKey(ctx context.Context, r uninstallRoot) ([]Software, error) {
	k, err := registry.OpenKey(r.root, r.path, registry.ENUMERATE_SUB_KEYS|registry.QUERY_VALUE|r.view)
	if errors.Is(err, registry.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("open uninstall key %s: %w", r.label, err)
	}
	defer k.Close()
	names, err := k.ReadSubKeyNames(-1)
	if err != nil {
		return nil, fmt.Errorf("list uninstall key %s: %w", r.label, err)
	}
	var out []Software
	var errs []error
	for _, name := range names {
		if err := ctx.Err(); err != nil {
			return out, errors.Join(append(errs, err)...)
		}
		s, ok, err := readUninstallEntry(k, name, r.view)
		if err != nil {
			errs = append(errs, fmt.Errorf("read uninstall entry %s\\%s: %w", r.label, name, err))
			continue
		}
		if ok {
			out = append(out, s)
		}
	}
	return out, errors.Join(errs...)
}

// readUninstallEntry reads one uninstall entry; ok is false for entries
// that are not listed (no DisplayName, or SystemComponent=1).
func readUninstallEntry(parent registry.Key, name string, view uint32) (s Software, ok bool, err error) {
	k, err := registry.OpenKey(parent, name, registry.QUERY_VALUE|view)
	if errors.Is(err, registry.ErrNotExist) {
		return Software{}, false, nil // removed since the listing
	}
	if err != nil {
		return Software{}, false, err
	}
	defer k.Close()
	display := StringValue(k, "DisplayName")
	if display == "" {
		return Software{}, false, nil
	}
	if v, _, err := k.GetIntegerValue("SystemComponent"); err == nil && v == 1 {
		return Software{}, false, nil
	}
	return Software{
		Name:      display,
		Version:   StringValue(k, "DisplayVersion"),
		Publisher: StringValue(k, "Publisher"),
		ID:        name,
		Location:  StringValue(k, "InstallLocation"),
		Source:    "uninstall_key",
	}, true, nil
}

// StringValue returns a REG_SZ/REG_EXPAND_SZ value (unexpanded) with
// surrounding space trimmed, or "" when it is absent or of another type.
func StringValue(k registry.Key, name string) string {
	v, _, err := k.GetStringValue(name)
	if err != nil {
		return ""
	}
	return strings.TrimSpace(v)
}
