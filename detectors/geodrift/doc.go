// Package geodrift is the detector of where a device says it is: the
// signals the collector weighs against GeoIP, the owner's registered home
// and the speed of light (issue 5, "geolocation drift").
//
// Observe (observation "geodrift/v1") reads, through the detectors.Host it
// is given:
//   - the time zone: the /etc/localtime link (Linux, macOS) or Debian's
//     /etc/timezone, and on Windows the registry's TimeZoneKeyName mapped
//     to IANA with an embedded CLDR table (windowszones.txt); the offset
//     comes from Go's embedded zone database (time/tzdata);
//   - the locale: LC_ALL/LANG of /etc/locale.conf or /etc/default/locale;
//     AppleLocale through `defaults read` (each user's, else the machine's);
//     GetUserDefaultLocaleName on Windows;
//   - keyboard layouts: XKBLAYOUT/KEYMAP (/etc/default/keyboard,
//     /etc/vconsole.conf, xorg.conf.d); AppleEnabledInputSources of the
//     login window and each user; Keyboard Layout\Preload of every loaded
//     user hive on Windows (a service sees .DEFAULT, the machine default,
//     plus the hives of signed-in users);
//   - tunnel interfaces, the default gateway with its MAC and Wi-Fi BSSIDs,
//     through detectors/netinfo;
//   - VPN clients of the embedded catalogue (catalogue.yaml: Astrill first,
//     consumer VPNs, and corporate, mesh and protocol clients that are
//     recognised but not flagged) among processes, installed software
//     (detectors/inventory: uninstall entries, app bundles, dpkg/rpm) and
//     install paths;
//   - TCP connect times to the landmark servers the policy names (a network
//     action: none by default), the minimum of several samples each.
//
// The observation implements detectors.Contributor: it fills the report
// context's Geo signals and the gateway MAC and BSSIDs, which the agent
// hashes with the fleet key before they leave the device.
//
// Evaluate raises, on the device alone:
//
//	rule                              severity                    when
//	geodrift.consumer_vpn_running     medium; high for Astrill    a consumer VPN client's process runs
//	geodrift.consumer_vpn_installed   low; high for Astrill       a consumer VPN client is installed, not running
//	geodrift.time_zone_unexpected     low                         the time zone is not among the policy's expected zones
//
// Clients the policy sanctions, and corporate, mesh and generic clients,
// raise nothing. Judging location (GeoIP, roster, physical bounds from the
// landmark times, drift from the device's history) is the collector's job.
//
// The policy (settings.geodrift, see Policy) sets the expected zones, the
// landmarks and probing limits, catalogue extensions and sanctioned
// clients; the engine hands the decoded policy to ObserveWith
// (detectors.PolicyObserver).
package geodrift
