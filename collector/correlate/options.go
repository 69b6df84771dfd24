package correlate

import (
	"errors"
	"fmt"
	"net/netip"
	"time"
)

// Defaults of Options, applied by WithDefaults to fields left zero.
const (
	DefaultWindow          = 24 * time.Hour
	DefaultMinDevices      = 3
	DefaultMinOwners       = 2
	DefaultCriticalDevices = 6
	DefaultSilentAfter     = 72 * time.Hour
	DefaultMinKVMDevices   = 2
)

// Options are the thresholds of one correlation pass.
type Options struct {
	// Window: devices last seen, and peer beacons heard, before
	// now-Window are ignored by the farm and KVM rules. The boundary is
	// inclusive: a device last seen exactly at now-Window counts.
	Window time.Duration
	// MinDevices is the farm threshold: devices in one component.
	MinDevices int
	// MinOwners is the number of distinct owners a farm needs among its
	// devices. A device without an owner counts as its own unknown owner.
	MinOwners int
	// OfficeCIDRs are registered offices: a public IP inside one of them
	// never joins devices.
	OfficeCIDRs []netip.Prefix
	// OfficeNetworks are gateway, BSSID or SSID hashes of registered
	// offices: they never join devices.
	OfficeNetworks []string
	// CriticalDevices: a farm of at least this many devices is critical
	// (high below, unless a member has a high finding).
	CriticalDevices int
	// SilentAfter: a device last seen more than this long ago whose last
	// report was not "stopping" is silent. The boundary is exclusive: a
	// device last seen exactly SilentAfter ago is not silent yet.
	SilentAfter time.Duration
	// MinKVMDevices: the same KVM serial hash on at least this many
	// devices is a shared KVM.
	MinKVMDevices int
	// IncludePrivateIPs lets private and loopback source addresses join
	// devices like public ones. Only for labs and demos where agents
	// reach the collector over a private network or loopback: in
	// production such an address is the collector's own LAN or proxy,
	// shared by everyone behind it.
	IncludePrivateIPs bool
}

// WithDefaults returns o with every zero or negative threshold replaced
// by its default. Office lists are kept as they are.
func (o Options) WithDefaults() Options {
	if o.Window <= 0 {
		o.Window = DefaultWindow
	}
	if o.MinDevices <= 0 {
		o.MinDevices = DefaultMinDevices
	}
	if o.MinOwners <= 0 {
		o.MinOwners = DefaultMinOwners
	}
	if o.CriticalDevices <= 0 {
		o.CriticalDevices = DefaultCriticalDevices
	}
	if o.SilentAfter <= 0 {
		o.SilentAfter = DefaultSilentAfter
	}
	if o.MinKVMDevices <= 0 {
		o.MinKVMDevices = DefaultMinKVMDevices
	}
	return o
}

// Validate reports every setting of o that cannot work, as given (call
// WithDefaults first to accept zero values). A farm or a shared KVM needs
// at least two devices; office prefixes must be valid and office network
// hashes non-empty.
func (o Options) Validate() error {
	var errs []error
	if o.Window <= 0 {
		errs = append(errs, fmt.Errorf("window %v is not positive", o.Window))
	}
	if o.MinDevices < 2 {
		errs = append(errs, fmt.Errorf("min devices %d is below 2", o.MinDevices))
	}
	if o.MinOwners < 1 {
		errs = append(errs, fmt.Errorf("min owners %d is below 1", o.MinOwners))
	}
	if o.CriticalDevices < 1 {
		errs = append(errs, fmt.Errorf("critical devices %d is below 1", o.CriticalDevices))
	}
	if o.SilentAfter <= 0 {
		errs = append(errs, fmt.Errorf("silent after %v is not positive", o.SilentAfter))
	}
	if o.MinKVMDevices < 2 {
		errs = append(errs, fmt.Errorf("min KVM devices %d is below 2", o.MinKVMDevices))
	}
	for i, p := range o.OfficeCIDRs {
		if !p.IsValid() {
			errs = append(errs, fmt.Errorf("office CIDR %d is not a valid prefix", i))
		}
	}
	for i, h := range o.OfficeNetworks {
		if h == "" {
			errs = append(errs, fmt.Errorf("office network %d is empty", i))
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("correlate options: %w", errors.Join(errs...))
	}
	return nil
}
