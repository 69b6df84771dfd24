package netinfo

import (
	"encoding/hex"
	"strings"
)

// NormalizeMAC lower-cases and zero-pads a MAC ("A:B:..." → "0a:0b:…");
// "" for all-zero/invalid. It accepts 6- and 8-byte addresses with ':' or
// '-' between bytes (one or two hex digits each, as macOS arp prints
// them), and 12 or 16 hex digits without separators.
func NormalizeMAC(s string) string {
	s = strings.TrimSpace(s)
	var parts []string
	switch {
	case strings.ContainsAny(s, ":-"):
		parts = strings.FieldsFunc(s, func(r rune) bool { return r == ':' || r == '-' })
		if strings.Count(s, ":")+strings.Count(s, "-") != len(parts)-1 {
			return "" // empty groups ("a::b") or a leading/trailing separator
		}
	case len(s) == 12 || len(s) == 16:
		for i := 0; i < len(s); i += 2 {
			parts = append(parts, s[i:i+2])
		}
	default:
		return ""
	}
	if len(parts) != 6 && len(parts) != 8 {
		return ""
	}
	b := make([]byte, len(parts))
	for i, p := range parts {
		if len(p) == 1 {
			p = "0" + p
		}
		if len(p) != 2 {
			return ""
		}
		if _, err := hex.Decode(b[i:i+1], []byte(p)); err != nil {
			return ""
		}
	}
	return formatMAC(b)
}

// formatMAC formats a 6- or 8-byte hardware address; "" for other lengths
// and for all zeros.
func formatMAC(b []byte) string {
	if len(b) != 6 && len(b) != 8 {
		return ""
	}
	zero := true
	for _, c := range b {
		if c != 0 {
			zero = false
			break
		}
	}
	if zero {
		return ""
	}
	var sb strings.Builder
	for i, c := range b {
		if i > 0 {
			sb.WriteByte(':')
		}
		sb.WriteString(hex.EncodeToString([]byte{c}))
	}
	return sb.String()
}

// tunnelDescriptions maps words of an adapter description or driver
// (lower-case) to a tunnel kind, most specific first.
var tunnelDescriptions = []struct{ word, kind string }{
	{"wintun", "wintun"},
	{"wireguard", "wireguard"},
	{"tap-windows", "tap"},
	{"tap-win32", "tap"},
	{"tap adapter", "tap"},
	{"openvpn data channel offload", "tun"},
	{"ovpn-dco", "tun"},
	{"pppoe", "ppp"},
	{"wan miniport (ppp", "ppp"},
	{"point-to-point", "ppp"},
	{"wan miniport (ikev2)", "ipsec"},
	{"wan miniport (l2tp)", "ipsec"},
	{"ipsec", "ipsec"},
	{"wan miniport (sstp)", "tunnel"},
	{"wan miniport (pptp)", "tunnel"},
	{"anyconnect", "tunnel"},
	{"pangp", "tunnel"},
	{"globalprotect", "tunnel"},
	{"fortinet", "tunnel"},
	{"forticlient", "tunnel"},
	{"juniper", "tunnel"},
	{"pulse secure", "tunnel"},
	{"zscaler", "tunnel"},
	{"vpn", "tunnel"},
}

// tunnelNames maps an interface-name prefix to a tunnel kind. The prefix
// matches when the rest of the name is empty or starts with a digit, '-',
// '_' or '.', so "tun0" and "wg-mullvad" match and "tapir" does not.
var tunnelNames = []struct{ prefix, kind string }{
	{"utun", "utun"},
	{"tun", "tun"},
	{"tap", "tap"},
	{"wg", "wireguard"},
	{"nordlynx", "wireguard"},
	{"tailscale", "tun"},
	{"cscotun", "tun"},
	{"gpd", "tun"},
	{"zt", "tap"},
	{"ppp", "ppp"},
	{"ipsec", "ipsec"},
	{"xfrm", "ipsec"},
	{"ip_vti", "ipsec"},
	{"ip6_vti", "ipsec"},
	{"vti", "ipsec"},
	{"tunl", "tunnel"},
	{"sit", "tunnel"},
	{"gre", "tunnel"},
	{"gretap", "tunnel"},
	{"erspan", "tunnel"},
	{"ip6gre", "tunnel"},
	{"ip6tnl", "tunnel"},
	{"gif", "tunnel"},
	{"stf", "tunnel"},
}

// TunnelKindOf classifies an interface by its name and its OS description
// or driver: "tun", "tap", "utun", "wintun", "ppp", "wireguard", "ipsec"
// or "tunnel" (any other tunnel or VPN adapter); "" when neither says it
// is a tunnel. The description, when it names a tunnel driver, wins over
// the name.
func TunnelKindOf(name, description string) string {
	d := strings.ToLower(description)
	for _, t := range tunnelDescriptions {
		if strings.Contains(d, t.word) {
			return t.kind
		}
	}
	n := strings.ToLower(name)
	for _, t := range tunnelNames {
		rest, ok := strings.CutPrefix(n, t.prefix)
		if !ok {
			continue
		}
		if rest == "" || strings.IndexByte("0123456789-_.", rest[0]) >= 0 {
			return t.kind
		}
	}
	return ""
}
