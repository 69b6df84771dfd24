// Package geo is the collector's geolocation judgement: where a device's
// public IP is (MaxMind City and ASN databases, see DB), and the pure
// rules that compare it with the owner's registered home, the landmark
// round-trip times the agent measured, the device's own history and its
// time zone (Judge).
//
// Rules (ids are stable; severities configurable, see Options):
//
//	geo.far_from_home        IP location farther than Options.FarKM from the registered home,
//	                         after the accuracy radius and the home's own error are granted
//	geo.other_country        IP country differs from the registered home's country
//	geo.hosting_asn          egress through a hosting or VPN network (ASN list, AS org patterns)
//	geo.impossible_location  speed-of-light bounds from landmarks: light in fibre covers about
//	                         200 km per ms, so a landmark answering in rtt ms is at most
//	                         rtt/2 × 200 km away; an IP position (or the registered home)
//	                         farther than that, after the accuracy radius and landmark error,
//	                         cannot be where the laptop is
//	geo.new_country          a country the device never reported from (after its learning period)
//	geo.new_network          a network identity (gateway or BSSID hash) never seen (after learning)
//	geo.timezone_mismatch    the device's time zone is not used in the IP's country
//
// What must not live here: storage, HTTP, alerting. Judge does no I/O and
// reads no clock, so every rule is a table test; DB is the only part that
// touches files. The zone → country table is embedded from the IANA
// time zone database (tzdata/, see zones.go).
package geo
