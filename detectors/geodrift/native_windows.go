//go:build windows

package geodrift

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"unsafe"

	"golang.org/x/sys/windows"
	"golang.org/x/sys/windows/registry"

	"github.com/farmwatch/farmwatch/detectors/inventory"
)

// windowsNative is the nativeSource of Windows builds. It only reads.
type windowsNative struct{}

func newNativeSource() nativeSource { return windowsNative{} }

var _ nativeSource = windowsNative{}

// TimeZoneKeyName reads the registry value Windows sets with the time
// zone (Settings, tzutil /s or group policy).
func (windowsNative) TimeZoneKeyName(ctx context.Context) (string, error) {
	if err := ctx.Err(); err != nil {
		return "", err
	}
	k, err := registry.OpenKey(registry.LOCAL_MACHINE, tzKeyPath, registry.QUERY_VALUE|registry.WOW64_64KEY)
	if err != nil {
		return "", fmt.Errorf(`open HKLM\%s: %w`, tzKeyPath, err)
	}
	defer k.Close()
	v, _, err := k.GetStringValue("TimeZoneKeyName")
	if err != nil {
		return "", fmt.Errorf(`read HKLM\%s\TimeZoneKeyName: %w`, tzKeyPath, err)
	}
	return v, nil
}

var (
	modkernel32                    = windows.NewLazySystemDLL("kernel32.dll")
	procGetUserDefaultLocaleName   = modkernel32.NewProc("GetUserDefaultLocaleName")
	procGetSystemDefaultLocaleName = modkernel32.NewProc("GetSystemDefaultLocaleName")
)

// localeNameMaxLength is LOCALE_NAME_MAX_LENGTH (winnls.h).
const localeNameMaxLength = 85

// Locale returns the user default locale; as a service that is the
// LocalSystem account's, which Windows sets from the machine's region
// settings. The system default locale (the "language for non-Unicode
// programs") is the fallback.
func (windowsNative) Locale(ctx context.Context) (string, string, error) {
	if err := ctx.Err(); err != nil {
		return "", "", err
	}
	var errs []error
	for _, p := range []*windows.LazyProc{procGetUserDefaultLocaleName, procGetSystemDefaultLocaleName} {
		name, err := localeName(p)
		if err == nil && name != "" {
			return name, p.Name, nil
		}
		if err == nil {
			err = errors.New("empty name")
		}
		errs = append(errs, fmt.Errorf("%s: %w", p.Name, err))
	}
	return "", "", errors.Join(errs...)
}

func localeName(p *windows.LazyProc) (string, error) {
	if err := p.Find(); err != nil {
		return "", err
	}
	buf := make([]uint16, localeNameMaxLength)
	r, _, e := p.Call(uintptr(unsafe.Pointer(&buf[0])), uintptr(len(buf)))
	if r == 0 {
		if errno, ok := e.(windows.Errno); ok && errno != 0 {
			return "", errno
		}
		return "", errors.New("call failed")
	}
	return windows.UTF16ToString(buf), nil
}

const preloadPath = `Keyboard Layout\Preload`

// KeyboardLayouts reads Keyboard Layout\Preload of every hive loaded
// under HKEY_USERS: .DEFAULT (the logon screen and services) and each
// signed-in user. Values are named "1", "2" … in the user's order. A hive
// without the key is skipped.
func (windowsNative) KeyboardLayouts(ctx context.Context) ([]KLID, error) {
	hives, err := inventory.LoadedUserHives()
	if err != nil {
		return nil, err
	}
	slices.Sort(hives)
	var out []KLID
	var errs []error
	for _, hive := range hives {
		if err := ctx.Err(); err != nil {
			return out, errors.Join(append(errs, err)...)
		}
		ids, err := preloadedLayouts(hive)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		for _, id := range ids {
			out = append(out, KLID{ID: id, Hive: `HKU\` + hive})
		}
	}
	return out, errors.Join(errs...)
}

// preloadedLayouts returns one hive's preloaded KLIDs in value order.
func preloadedLayouts(hive string) ([]string, error) {
	k, err := registry.OpenKey(registry.USERS, hive+`\`+preloadPath, registry.QUERY_VALUE)
	if errors.Is(err, registry.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf(`open HKU\%s\%s: %w`, hive, preloadPath, err)
	}
	defer k.Close()
	names, err := k.ReadValueNames(-1)
	if err != nil {
		return nil, fmt.Errorf(`list HKU\%s\%s: %w`, hive, preloadPath, err)
	}
	type value struct {
		order int
		id    string
	}
	var vals []value
	for _, n := range names {
		order, err := strconv.Atoi(n)
		if err != nil {
			continue // not a layout slot
		}
		if id := inventory.StringValue(k, n); id != "" {
			vals = append(vals, value{order, id})
		}
	}
	slices.SortFunc(vals, func(a, b value) int { return a.order - b.order })
	out := make([]string, len(vals))
	for i, v := range vals {
		out[i] = v.id
	}
	return out, nil
}
