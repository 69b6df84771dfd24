//go:build !windows

package inventory

import (
	"context"
	"fmt"

	"github.com/farmwatch/farmwatch/detectors"
)

// WindowsSoftware lists the registry's uninstall entries; only Windows
// builds have a registry to read.
func WindowsSoftware(context.Context) ([]Software, error) {
	return nil, fmt.Errorf("windows uninstall entries: %w", detectors.ErrUnsupported)
}
