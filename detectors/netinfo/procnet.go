package netinfo

import (
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"math/bits"
	"net/netip"
	"strconv"
	"strings"
)

// Parsers of the Linux /proc/net text files. Each returns every row it
// could read and, when some could not be, an error naming each bad line,
// so a malformed line never hides the good ones.

// Route flags of /proc/net/route (linux/route.h).
const (
	rtfUp      = 0x1
	rtfGateway = 0x2
	rtfHost    = 0x4
	rtfReject  = 0x200
)

// routeEntry is one row of /proc/net/route (the main IPv4 table).
type routeEntry struct {
	Iface   string
	Dst     netip.Prefix
	Gateway netip.Addr // 0.0.0.0 for an on-link route
	Flags   uint32
	Metric  int
}

// parseProcRoute parses /proc/net/route. Addresses are 32-bit hex in host
// (little-endian on every platform farmwatch runs on) byte order.
func parseProcRoute(data []byte) ([]routeEntry, error) {
	var (
		out  []routeEntry
		errs []error
	)
	eachLine(data, func(n int, line string) {
		f := strings.Fields(line)
		if len(f) == 0 {
			return
		}
		if n == 1 && f[0] == "Iface" {
			return
		}
		e, err := parseRouteFields(f)
		if err != nil {
			errs = append(errs, fmt.Errorf("line %d %q: %w", n, clip(line), err))
			return
		}
		out = append(out, e)
	})
	return out, joinErrs("parse /proc/net/route", errs)
}

func parseRouteFields(f []string) (routeEntry, error) {
	if len(f) < 8 {
		return routeEntry{}, fmt.Errorf("%d fields, want at least 8", len(f))
	}
	dst, err := parseHexIPv4(f[1])
	if err != nil {
		return routeEntry{}, fmt.Errorf("destination: %w", err)
	}
	gw, err := parseHexIPv4(f[2])
	if err != nil {
		return routeEntry{}, fmt.Errorf("gateway: %w", err)
	}
	flags, err := strconv.ParseUint(f[3], 16, 32)
	if err != nil {
		return routeEntry{}, fmt.Errorf("flags: %w", err)
	}
	metric, err := strconv.Atoi(f[6])
	if err != nil {
		return routeEntry{}, fmt.Errorf("metric: %w", err)
	}
	mask, err := parseHexIPv4(f[7])
	if err != nil {
		return routeEntry{}, fmt.Errorf("mask: %w", err)
	}
	ones, err := maskBits(mask)
	if err != nil {
		return routeEntry{}, err
	}
	return routeEntry{
		Iface:   f[0],
		Dst:     netip.PrefixFrom(dst, ones).Masked(),
		Gateway: gw,
		Flags:   uint32(flags),
		Metric:  metric,
	}, nil
}

// parseHexIPv4 decodes the 8-hex-digit little-endian address of
// /proc/net/route.
func parseHexIPv4(s string) (netip.Addr, error) {
	if len(s) != 8 {
		return netip.Addr{}, fmt.Errorf("%q is not 8 hex digits", s)
	}
	var b [4]byte
	if _, err := hex.Decode(b[:], []byte(s)); err != nil {
		return netip.Addr{}, fmt.Errorf("%q: %w", s, err)
	}
	v := binary.LittleEndian.Uint32(b[:])
	var a [4]byte
	binary.BigEndian.PutUint32(a[:], v)
	return netip.AddrFrom4(a), nil
}

// maskBits gives the prefix length of a contiguous IPv4 netmask.
func maskBits(m netip.Addr) (int, error) {
	v := binary.BigEndian.Uint32(m.AsSlice())
	ones := bits.LeadingZeros32(^v)
	if ones < 32 && v<<ones != 0 {
		return 0, fmt.Errorf("mask %s is not contiguous", m)
	}
	return ones, nil
}

// ARP flags of /proc/net/arp (linux/if_arp.h).
const (
	atfComplete = 0x2
	atfPerm     = 0x4
)

// parseProcARP parses /proc/net/arp. Entries still resolving (no
// ATF_COM flag) or without a usable MAC are left out: they say nothing
// about a neighbour. State is "permanent" for static entries and
// "complete" otherwise (the file does not carry the NUD state).
func parseProcARP(data []byte) ([]Neighbour, error) {
	var (
		out  []Neighbour
		errs []error
	)
	eachLine(data, func(n int, line string) {
		f := strings.Fields(line)
		if len(f) == 0 {
			return
		}
		if n == 1 && f[0] == "IP" {
			return
		}
		if len(f) != 6 {
			errs = append(errs, fmt.Errorf("line %d %q: %d fields, want 6", n, clip(line), len(f)))
			return
		}
		ip, err := netip.ParseAddr(f[0])
		if err != nil || !ip.Is4() {
			errs = append(errs, fmt.Errorf("line %d %q: address %q is not IPv4", n, clip(line), f[0]))
			return
		}
		flags, err := strconv.ParseUint(strings.TrimPrefix(f[2], "0x"), 16, 32)
		if err != nil {
			errs = append(errs, fmt.Errorf("line %d %q: flags: %w", n, clip(line), err))
			return
		}
		if flags&atfComplete == 0 {
			return
		}
		mac := NormalizeMAC(f[3])
		if mac == "" {
			return
		}
		state := "complete"
		if flags&atfPerm != 0 {
			state = "permanent"
		}
		out = append(out, Neighbour{IP: ip, MAC: mac, Interface: f[5], State: state})
	})
	return out, joinErrs("parse /proc/net/arp", errs)
}

// parseFibTrie returns the host's own IPv4 addresses from
// /proc/net/fib_trie: the leaves with a "/32 host LOCAL" entry. The file
// lists the local table twice (under "Main:" and "Local:"), so addresses
// are deduplicated, in order of first appearance. Wider LOCAL entries
// ("127.0.0.0 /8 host LOCAL") are local ranges, not addresses.
func parseFibTrie(data []byte) ([]netip.Addr, error) {
	var (
		out  []netip.Addr
		seen = map[netip.Addr]bool{}
		leaf netip.Addr
		errs []error
	)
	eachLine(data, func(n int, line string) {
		t := strings.TrimSpace(line)
		switch {
		case t == "":
		case strings.HasSuffix(t, ":") && !strings.ContainsAny(t, " \t"):
			leaf = netip.Addr{} // a table header: "Main:", "Local:", "Id 100:"…
		case strings.HasPrefix(t, "+-- "):
			leaf = netip.Addr{} // an inner node
		case strings.HasPrefix(t, "|-- "):
			a, err := netip.ParseAddr(strings.TrimSpace(t[4:]))
			if err != nil || !a.Is4() {
				leaf = netip.Addr{}
				errs = append(errs, fmt.Errorf("line %d %q: leaf is not an IPv4 address", n, clip(line)))
				return
			}
			leaf = a
		case strings.HasPrefix(t, "/"):
			f := strings.Fields(t)
			if len(f) < 3 {
				errs = append(errs, fmt.Errorf("line %d %q: %d fields, want 3", n, clip(line), len(f)))
				return
			}
			plen, err := strconv.Atoi(f[0][1:])
			if err != nil || plen < 0 || plen > 32 {
				errs = append(errs, fmt.Errorf("line %d %q: bad prefix length", n, clip(line)))
				return
			}
			if !leaf.IsValid() {
				errs = append(errs, fmt.Errorf("line %d %q: entry outside a leaf", n, clip(line)))
				return
			}
			if plen == 32 && f[2] == "LOCAL" && !seen[leaf] {
				seen[leaf] = true
				out = append(out, leaf)
			}
		default:
			errs = append(errs, fmt.Errorf("line %d %q: not a fib_trie line", n, clip(line)))
		}
	})
	return out, joinErrs("parse /proc/net/fib_trie", errs)
}

// inet6Entry is one row of /proc/net/if_inet6.
type inet6Entry struct {
	Prefix netip.Prefix
	Index  int
	Iface  string
}

// parseIfInet6 parses /proc/net/if_inet6: address (32 hex digits),
// interface index, prefix length, scope and flags (hex), interface name.
func parseIfInet6(data []byte) ([]inet6Entry, error) {
	var (
		out  []inet6Entry
		errs []error
	)
	eachLine(data, func(n int, line string) {
		f := strings.Fields(line)
		if len(f) == 0 {
			return
		}
		if len(f) != 6 || len(f[0]) != 32 {
			errs = append(errs, fmt.Errorf("line %d %q: want 6 fields starting with 32 hex digits", n, clip(line)))
			return
		}
		var b [16]byte
		if _, err := hex.Decode(b[:], []byte(f[0])); err != nil {
			errs = append(errs, fmt.Errorf("line %d %q: address: %w", n, clip(line), err))
			return
		}
		idx, err1 := strconv.ParseUint(f[1], 16, 31)
		plen, err2 := strconv.ParseUint(f[2], 16, 8)
		if err := errors.Join(err1, err2); err != nil || plen > 128 {
			errs = append(errs, fmt.Errorf("line %d %q: bad index or prefix length", n, clip(line)))
			return
		}
		out = append(out, inet6Entry{
			Prefix: netip.PrefixFrom(netip.AddrFrom16(b), int(plen)),
			Index:  int(idx),
			Iface:  f[5],
		})
	})
	return out, joinErrs("parse /proc/net/if_inet6", errs)
}

// eachLine calls fn with every line of data and its 1-based number.
func eachLine(data []byte, fn func(n int, line string)) {
	n := 0
	for line := range strings.Lines(string(data)) {
		n++
		fn(n, strings.TrimRight(line, "\r\n"))
	}
}

// clip shortens a line quoted in an error.
func clip(s string) string {
	if len(s) > 80 {
		return s[:80] + "…"
	}
	return s
}

// joinErrs wraps the errors of one parse, at most a few of them spelt out.
func joinErrs(op string, errs []error) error {
	switch {
	case len(errs) == 0:
		return nil
	case len(errs) > 5:
		return fmt.Errorf("%s: %d malformed lines: %w (and %d more)", op, len(errs), errors.Join(errs[:5]...), len(errs)-5)
	default:
		return fmt.Errorf("%s: %w", op, errors.Join(errs...))
	}
}
