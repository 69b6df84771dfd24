//go:build !windows

package remoteaccess

import (
	"context"
	"fmt"

	"github.com/farmwatch/farmwatch/detectors"
)

// unsupportedNative is the nativeSource of non-Windows builds.
type unsupportedNative struct{}

func newNativeSource() nativeSource { return unsupportedNative{} }

var errNoNative = fmt.Errorf("windows APIs: %w", detectors.ErrUnsupported)

func (unsupportedNative) Services(context.Context) ([]Service, error)  { return nil, errNoNative }
func (unsupportedNative) Software(context.Context) ([]Software, error) { return nil, errNoNative }
func (unsupportedNative) Features(context.Context) ([]Feature, error)  { return nil, errNoNative }
func (unsupportedNative) Sessions(context.Context) ([]Session, error)  { return nil, errNoNative }
