package geodrift

import "context"

// nativeSource reads the settings Windows keeps behind its APIs and
// registry. The real one lives in native_windows.go; elsewhere it reports
// ErrUnsupported. Tests replace it with recorded data, so the Windows
// evaluation path runs on Linux, and the real one runs under Wine in CI
// (bash .ci/wine-test.sh ./detectors/geodrift).
type nativeSource interface {
	// TimeZoneKeyName is HKLM\SYSTEM\CurrentControlSet\Control\
	// TimeZoneInformation\TimeZoneKeyName ("Central Standard Time").
	TimeZoneKeyName(ctx context.Context) (string, error)
	// Locale is the default locale name of the calling user
	// (GetUserDefaultLocaleName), falling back to the system's
	// (GetSystemDefaultLocaleName), in BCP 47 form ("en-US"); source names
	// the call that gave it.
	Locale(ctx context.Context) (name, source string, err error)
	// KeyboardLayouts lists the preloaded keyboard layout ids (KLIDs,
	// "00000409") of HKEY_USERS\.DEFAULT (the machine default, what a
	// service sees) and of every loaded user hive, with the hive each
	// came from.
	KeyboardLayouts(ctx context.Context) ([]KLID, error)
}

// KLID is a Windows keyboard layout id and the hive it was read from.
type KLID struct {
	ID   string `json:"id"`
	Hive string `json:"hive"`
}
