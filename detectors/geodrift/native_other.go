//go:build !windows

package geodrift

import (
	"context"
	"fmt"

	"github.com/farmwatch/farmwatch/detectors"
)

// unsupportedNative is the nativeSource of non-Windows builds.
type unsupportedNative struct{}

func newNativeSource() nativeSource { return unsupportedNative{} }

var errNoNative = fmt.Errorf("windows APIs: %w", detectors.ErrUnsupported)

func (unsupportedNative) TimeZoneKeyName(context.Context) (string, error) { return "", errNoNative }
func (unsupportedNative) Locale(context.Context) (string, string, error)  { return "", "", errNoNative }
func (unsupportedNative) KeyboardLayouts(context.Context) ([]KLID, error) { return nil, errNoNative }
