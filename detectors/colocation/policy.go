package colocation

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"
)

// Defaults of the policy.
const (
	DefaultPeerThreshold  = 3
	DefaultPeerWindow     = 15 * time.Minute
	DefaultBeaconInterval = 60 * time.Second
	DefaultBeaconPort     = 47470
	DefaultMaxSkew        = 5 * time.Minute
	DefaultMDNSDuration   = 2 * time.Second
	DefaultSweepMaxPrefix = 24
	DefaultSweepRate      = 100
	// maxSweepTime bounds a sweep: the policy refuses a subnet size and
	// rate whose sweep would take longer (the engine gives a detector 60 s).
	maxSweepTime = 30 * time.Second
)

// DefaultBeaconGroup is the multicast group of the peer beacon, in the
// IPv4 local scope (239.255.0.0/16, RFC 2365): routers do not forward it.
var DefaultBeaconGroup = netip.MustParseAddr("239.255.70.87")

// Policy is the colocation detector's policy section (settings.colocation
// of the fleet policy, policy.colocation of the agent configuration):
//
//	colocation:
//	  peer_threshold: 3        # company laptops heard on one LAN that make a finding
//	  peer_window: 15m         # how long a heard peer counts
//	  beacon: true             # announce this laptop and listen (agent service only)
//	  beacon_interval: 60s
//	  beacon_port: 47470
//	  beacon_group: 239.255.70.87
//	  beacon_broadcast: true   # also the subnet broadcast, where multicast is filtered
//	  beacon_max_skew: 5m      # accepted clock difference; also the replay window
//	  mdns: true               # browse mDNS/DNS-SD for KVM appliances
//	  mdns_duration: 2s
//	  arp_sweep: false         # ARP-sweep the local subnet (Linux, CAP_NET_RAW)
//	  sweep_max_prefix: 24     # never sweep a subnet larger than this
//	  sweep_rate: 100          # ARP requests per second
//	  kvm_names: [myipkvm]     # more mDNS host names of KVM appliances
//	  kvm_mac_prefixes: [{prefix: "aa:bb:cc", vendor: "Acme KVM"}]
//	  disable_rules: [colocation.kvm_appliance]
//
// Durations are Go durations ("90s", "15m").
type Policy struct {
	PeerThreshold   int
	PeerWindow      time.Duration
	Beacon          bool
	BeaconInterval  time.Duration
	BeaconPort      int
	BeaconGroup     netip.Addr
	BeaconBroadcast bool
	MaxSkew         time.Duration
	MDNS            bool
	MDNSDuration    time.Duration
	ARPSweep        bool
	SweepMaxPrefix  int
	SweepRate       int
	KVMNames        []string
	KVMMACPrefixes  []MACPrefix
	DisableRules    []string
}

// MACPrefix names a vendor by the leading bits of its MAC addresses.
type MACPrefix struct {
	// Prefix is 3 to 5 bytes ("30:52:53"), or 3 bytes and a half-byte
	// ("04:c9:8b:1") for a 28-bit block.
	Prefix string `json:"prefix"`
	Vendor string `json:"vendor"`
	// Weak marks a prefix that also covers ordinary devices (a Raspberry
	// Pi, a GL.iNet router): it is listed, never a finding on its own.
	Weak bool `json:"weak,omitempty"`
}

// DefaultPolicy returns the policy used when none is configured.
func DefaultPolicy() *Policy {
	return &Policy{
		PeerThreshold:   DefaultPeerThreshold,
		PeerWindow:      DefaultPeerWindow,
		Beacon:          true,
		BeaconInterval:  DefaultBeaconInterval,
		BeaconPort:      DefaultBeaconPort,
		BeaconGroup:     DefaultBeaconGroup,
		BeaconBroadcast: true,
		MaxSkew:         DefaultMaxSkew,
		MDNS:            true,
		MDNSDuration:    DefaultMDNSDuration,
		SweepMaxPrefix:  DefaultSweepMaxPrefix,
		SweepRate:       DefaultSweepRate,
	}
}

// policyJSON is the wire form of Policy: absent keys keep their default.
type policyJSON struct {
	PeerThreshold   *int        `json:"peer_threshold"`
	PeerWindow      *string     `json:"peer_window"`
	Beacon          *bool       `json:"beacon"`
	BeaconInterval  *string     `json:"beacon_interval"`
	BeaconPort      *int        `json:"beacon_port"`
	BeaconGroup     *string     `json:"beacon_group"`
	BeaconBroadcast *bool       `json:"beacon_broadcast"`
	MaxSkew         *string     `json:"beacon_max_skew"`
	MDNS            *bool       `json:"mdns"`
	MDNSDuration    *string     `json:"mdns_duration"`
	ARPSweep        *bool       `json:"arp_sweep"`
	SweepMaxPrefix  *int        `json:"sweep_max_prefix"`
	SweepRate       *int        `json:"sweep_rate"`
	KVMNames        []string    `json:"kvm_names"`
	KVMMACPrefixes  []MACPrefix `json:"kvm_mac_prefixes"`
	DisableRules    []string    `json:"disable_rules"`
}

// DecodePolicy parses and validates a policy section; empty input (or
// JSON null) is the default policy. Every problem is reported, each with
// its key.
func DecodePolicy(raw json.RawMessage) (*Policy, error) {
	p := DefaultPolicy()
	if t := bytes.TrimSpace(raw); len(t) == 0 || bytes.Equal(t, []byte("null")) {
		return p, nil
	}
	var in policyJSON
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&in); err != nil {
		return nil, fmt.Errorf("colocation policy: %w", err)
	}
	var errs []error
	bad := func(key, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: "+format, append([]any{key}, args...)...))
	}
	dur := func(key string, s *string, dst *time.Duration, lo, hi time.Duration) {
		if s == nil {
			return
		}
		d, err := time.ParseDuration(*s)
		switch {
		case err != nil:
			bad(key, "%q is not a duration (e.g. %q)", *s, lo.String())
		case d < lo || d > hi:
			bad(key, "%s is outside %s … %s", d, lo, hi)
		default:
			*dst = d
		}
	}
	intIn := func(key string, v *int, dst *int, lo, hi int) {
		if v == nil {
			return
		}
		if *v < lo || *v > hi {
			bad(key, "%d is outside %d … %d", *v, lo, hi)
			return
		}
		*dst = *v
	}
	setBool := func(v *bool, dst *bool) {
		if v != nil {
			*dst = *v
		}
	}
	intIn("peer_threshold", in.PeerThreshold, &p.PeerThreshold, 1, 1000)
	dur("peer_window", in.PeerWindow, &p.PeerWindow, time.Minute, 24*time.Hour)
	setBool(in.Beacon, &p.Beacon)
	dur("beacon_interval", in.BeaconInterval, &p.BeaconInterval, 5*time.Second, time.Hour)
	intIn("beacon_port", in.BeaconPort, &p.BeaconPort, 1024, 65535)
	if in.BeaconGroup != nil {
		a, err := netip.ParseAddr(strings.TrimSpace(*in.BeaconGroup))
		switch {
		case err != nil:
			bad("beacon_group", "%q is not an IPv4 address", *in.BeaconGroup)
		case !a.Is4() || a.As4()[0] != 239:
			bad("beacon_group", "%s is not an administratively scoped IPv4 multicast group (239.0.0.0/8)", a)
		default:
			p.BeaconGroup = a
		}
	}
	setBool(in.BeaconBroadcast, &p.BeaconBroadcast)
	dur("beacon_max_skew", in.MaxSkew, &p.MaxSkew, 30*time.Second, time.Hour)
	setBool(in.MDNS, &p.MDNS)
	dur("mdns_duration", in.MDNSDuration, &p.MDNSDuration, 500*time.Millisecond, 10*time.Second)
	setBool(in.ARPSweep, &p.ARPSweep)
	intIn("sweep_max_prefix", in.SweepMaxPrefix, &p.SweepMaxPrefix, 20, 30)
	intIn("sweep_rate", in.SweepRate, &p.SweepRate, 1, 1000)
	if hosts := 1 << (32 - p.SweepMaxPrefix); time.Duration(hosts)*time.Second/time.Duration(p.SweepRate) > maxSweepTime {
		bad("sweep_max_prefix", "a /%d at %d requests per second takes longer than %s: raise sweep_rate or sweep_max_prefix", p.SweepMaxPrefix, p.SweepRate, maxSweepTime)
	}
	if p.PeerWindow < 2*p.BeaconInterval {
		bad("peer_window", "%s is shorter than two beacon intervals (%s): peers would come and go between beacons", p.PeerWindow, 2*p.BeaconInterval)
	}
	for i, n := range in.KVMNames {
		n = strings.ToLower(strings.TrimSuffix(strings.TrimSpace(n), "."))
		n = strings.TrimSuffix(n, ".local")
		if !validLabel(n) {
			bad(fmt.Sprintf("kvm_names[%d]", i), "%q is not a host name label (letters, digits, '-')", in.KVMNames[i])
			continue
		}
		p.KVMNames = append(p.KVMNames, n)
	}
	for i, m := range in.KVMMACPrefixes {
		key := fmt.Sprintf("kvm_mac_prefixes[%d]", i)
		pf, err := parseMACPrefix(m.Prefix)
		if err != nil {
			bad(key, "%v", err)
			continue
		}
		if strings.TrimSpace(m.Vendor) == "" {
			bad(key, "vendor is empty")
			continue
		}
		p.KVMMACPrefixes = append(p.KVMMACPrefixes, MACPrefix{Prefix: pf.String(), Vendor: strings.TrimSpace(m.Vendor), Weak: m.Weak})
	}
	rules := Rules()
	for _, r := range in.DisableRules {
		if !slices.Contains(rules, r) {
			bad("disable_rules", "unknown rule %q (known: %s)", r, strings.Join(rules, ", "))
			continue
		}
		p.DisableRules = append(p.DisableRules, r)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("colocation policy: %w", err)
	}
	return p, nil
}

// validLabel reports whether s is one DNS label of letters, digits and
// inner hyphens.
func validLabel(s string) bool {
	if s == "" || len(s) > 63 || s[0] == '-' || s[len(s)-1] == '-' {
		return false
	}
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

func (p *Policy) disabled(rule string) bool { return slices.Contains(p.DisableRules, rule) }

// beaconSettings are the parts of the policy the beacon's sockets depend
// on; a change of them reopens the sockets.
type beaconSettings struct {
	enabled   bool
	port      int
	group     netip.Addr
	broadcast bool
}

func (p *Policy) beaconSettings() beaconSettings {
	return beaconSettings{enabled: p.Beacon, port: p.BeaconPort, group: p.BeaconGroup, broadcast: p.BeaconBroadcast}
}
