//go:build !windows

package localapi

// underWine is false off Windows.
func underWine() bool { return false }
