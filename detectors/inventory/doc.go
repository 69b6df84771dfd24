// Package inventory reads installed software the way more than one
// detector needs it: the Windows uninstall entries of the registry
// (software_windows.go, the only file that calls Windows APIs), macOS app
// bundles, and the dpkg and rpm package databases of Linux.
//
// remoteaccess (remote-control tools) and geodrift (VPN clients) both
// match these records against their catalogues. Parsers are plain Go,
// tested on any OS against recorded data; the host is reached only
// through the fs.FS and detectors.Runner the caller passes in. Nothing
// here matches, filters or judges: that stays with each detector.
package inventory
