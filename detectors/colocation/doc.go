// Package colocation is the colocation detector: what the laptop can see
// of its LAN that betrays a laptop farm — other company laptops next to
// it, and KVM appliances on the same segment.
//
// Observe (colocation/v1) reads, through detectors/netinfo, the
// interfaces with their kinds, the default gateway with its MAC, the
// neighbour table and the Wi-Fi SSID/BSSID (or why the OS would not say:
// macOS without Location Services, Windows without location consent);
// browses mDNS/DNS-SD (legacy unicast from an ephemeral port, so the OS
// responder keeps port 5353) for the default names of PiKVM, TinyPilot,
// JetKVM, GL.iNet Comet, BliKVM and NanoKVM; optionally ARP-sweeps the
// local subnet (Linux, CAP_NET_RAW, off unless the policy enables it,
// /24 at most by default, rate-limited, deadline-bound); matches every MAC
// against an embedded table of KVM vendors' blocks; and reads what the peer
// beacon heard.
//
// The peer beacon (Service, run by the agent service for its lifetime)
// announces the device on every up, non-loopback, non-tunnel IPv4
// interface to an administratively scoped multicast group with TTL 1, and
// to the subnet broadcast, every beacon interval, in a datagram
// authenticated with HMAC-SHA256 under a key derived (HKDF) from the fleet
// key, carrying a fleet id, the device id, the time and a nonce. It
// listens on the same port and ignores, counting each by reason,
// malformed datagrams, other fleets' beacons, forgeries, beacons outside
// the clock-skew window, replays and its own. Peers, nonces and the work
// per second are bounded.
//
// The observation keeps raw MACs and SSIDs and stays on the laptop; it
// contributes the gateway MAC, BSSIDs and SSID to the report context,
// which the agent hashes with the fleet key, and the peers and beacon
// counters. Findings carry vendors, MAC blocks (the vendor part only),
// mDNS names and LAN addresses, never a whole MAC or an SSID.
//
// Rules:
//
//	colocation.peers          high    peer_threshold (3) or more other enrolled laptops heard within peer_window (15m)
//	colocation.kvm_appliance  medium  a KVM appliance on the LAN (mDNS name, DNS-SD instance, or a KVM vendor's MAC block);
//	                                  the engine raises it to high when the kvm detector finds a KVM on USB/EDID in the same scan
//
// Only the thin socket file of the sweep carries a GOOS suffix
// (sweep_linux.go); frames, DNS messages and beacons are built and parsed
// by plain Go tested on every OS.
package colocation
