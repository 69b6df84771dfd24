//go:build !windows

package inventory

import (
	"errors"
	"testing"

	"github.com/farmwatch/farmwatch/detectors"
)

func TestWindowsSoftwareElsewhere(t *testing.T) {
	t.Parallel()
	sw, err := WindowsSoftware(t.Context())
	if !errors.Is(err, detectors.ErrUnsupported) || sw != nil {
		t.Errorf("WindowsSoftware off Windows = %v, %v; want ErrUnsupported", sw, err)
	}
}
