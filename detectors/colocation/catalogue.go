package colocation

import (
	"encoding/hex"
	"fmt"
	"strings"
)

// macPrefix is the leading bits of a MAC address.
type macPrefix struct {
	b    [6]byte
	bits int
}

// parseMACPrefix parses "30:52:53", "48-DA-35-6D" or "04:c9:8b:1" (a
// trailing half byte makes a 28-bit block).
func parseMACPrefix(s string) (macPrefix, error) {
	var p macPrefix
	parts := strings.FieldsFunc(strings.ToLower(strings.TrimSpace(s)), func(r rune) bool { return r == ':' || r == '-' })
	if len(parts) < 3 || len(parts) > 5 {
		return p, fmt.Errorf("MAC prefix %q: want 3 to 5 bytes, e.g. \"30:52:53\"", s)
	}
	for i, part := range parts {
		last := i == len(parts)-1
		switch {
		case len(part) == 2:
			if _, err := hex.Decode(p.b[i:i+1], []byte(part)); err != nil {
				return p, fmt.Errorf("MAC prefix %q: %q is not a hex byte", s, part)
			}
			p.bits += 8
		case len(part) == 1 && last && i >= 3:
			var v [1]byte
			if _, err := hex.Decode(v[:], []byte(part+"0")); err != nil {
				return p, fmt.Errorf("MAC prefix %q: %q is not a hex digit", s, part)
			}
			p.b[i] = v[0]
			p.bits += 4
		default:
			return p, fmt.Errorf("MAC prefix %q: %q is not a hex byte", s, part)
		}
	}
	return p, nil
}

// String formats the prefix the way parseMACPrefix reads it.
func (p macPrefix) String() string {
	var parts []string
	for i := 0; i*8 < p.bits; i++ {
		h := hex.EncodeToString(p.b[i : i+1])
		if p.bits-i*8 == 4 {
			h = h[:1]
		}
		parts = append(parts, h)
	}
	return strings.Join(parts, ":")
}

// match reports whether mac ("aa:bb:cc:dd:ee:ff") starts with p.
func (p macPrefix) match(mac string) bool {
	b, ok := macBytes(mac)
	if !ok {
		return false
	}
	full := p.bits / 8
	for i := range full {
		if b[i] != p.b[i] {
			return false
		}
	}
	if p.bits%8 != 0 && b[full]&0xf0 != p.b[full] {
		return false
	}
	return true
}

// macBytes parses a normalised 6-byte MAC.
func macBytes(mac string) ([6]byte, bool) {
	var b [6]byte
	if len(mac) != 17 {
		return b, false
	}
	for i := range 6 {
		if i > 0 && mac[i*3-1] != ':' {
			return b, false
		}
		if _, err := hex.Decode(b[i:i+1], []byte(mac[i*3:i*3+2])); err != nil {
			return b, false
		}
	}
	return b, true
}

// kvmMACPrefixes are the MAC blocks of KVM appliances (signals.md §2.3).
// Weak blocks also cover ordinary devices: a Raspberry Pi may be a PiKVM
// or a home server, a GL.iNet block is mostly routers.
var kvmMACPrefixes = []MACPrefix{
	{Prefix: "30:52:53", Vendor: "JetKVM"},
	{Prefix: "04:c9:8b:1", Vendor: "TinyPilot"},
	{Prefix: "48:da:35:6d", Vendor: "NanoKVM (USB network, host side)"},
	{Prefix: "48:da:35:6e", Vendor: "NanoKVM (USB network, device side)"},
	{Prefix: "94:83:c4", Vendor: "GL.iNet (Comet KVM or router)", Weak: true},
	{Prefix: "b8:27:eb", Vendor: "Raspberry Pi (PiKVM hardware)", Weak: true},
	{Prefix: "dc:a6:32", Vendor: "Raspberry Pi (PiKVM hardware)", Weak: true},
	{Prefix: "e4:5f:01", Vendor: "Raspberry Pi (PiKVM hardware)", Weak: true},
	{Prefix: "d8:3a:dd", Vendor: "Raspberry Pi (PiKVM hardware)", Weak: true},
	{Prefix: "28:cd:c1", Vendor: "Raspberry Pi (PiKVM hardware)", Weak: true},
}

// kvmProduct is a KVM appliance as it names itself on the LAN.
type kvmProduct struct {
	// host is the default mDNS host name label ("pikvm" for pikvm.local);
	// "<host>-…" matches too (JetKVM names itself jetkvm-<device id>).
	host string
	// words are found in DNS-SD instance names ("PiKVM Web").
	words  []string
	vendor string
}

// kvmProducts are the default mDNS names of KVM appliances (signals.md §2.3;
// NanoKVM announces through avahi under its host name).
var kvmProducts = []kvmProduct{
	{host: "pikvm", words: []string{"pikvm", "pi-kvm"}, vendor: "PiKVM"},
	{host: "tinypilot", words: []string{"tinypilot"}, vendor: "TinyPilot"},
	{host: "jetkvm", words: []string{"jetkvm"}, vendor: "JetKVM"},
	{host: "glkvm", words: []string{"glkvm"}, vendor: "GL.iNet Comet"},
	{host: "blikvm", words: []string{"blikvm"}, vendor: "BliKVM"},
	{host: "nanokvm", words: []string{"nanokvm"}, vendor: "NanoKVM"},
}

// catalogue is the table of one evaluation: the built-in entries and the
// policy's extensions.
type catalogue struct {
	prefixes []struct {
		p macPrefix
		MACPrefix
	}
	products []kvmProduct
}

func newCatalogue(p *Policy) *catalogue {
	c := &catalogue{products: append([]kvmProduct(nil), kvmProducts...)}
	for _, m := range append(append([]MACPrefix(nil), kvmMACPrefixes...), p.KVMMACPrefixes...) {
		mp, err := parseMACPrefix(m.Prefix)
		if err != nil {
			continue // the policy was validated; the built-in table is tested
		}
		c.prefixes = append(c.prefixes, struct {
			p macPrefix
			MACPrefix
		}{mp, m})
	}
	for _, n := range p.KVMNames {
		c.products = append(c.products, kvmProduct{host: n, words: []string{n}, vendor: n + " (policy)"})
	}
	return c
}

// macVendor returns the KVM entry whose prefix mac starts with, the
// longest prefix winning.
func (c *catalogue) macVendor(mac string) (MACPrefix, bool) {
	best, bits := MACPrefix{}, 0
	for _, e := range c.prefixes {
		if e.p.bits > bits && e.p.match(mac) {
			best, bits = e.MACPrefix, e.p.bits
		}
	}
	return best, bits > 0
}

// hostProduct returns the product whose default host name the mDNS name
// ("pikvm.local.", "JetKVM-1a2b.local") carries.
func (c *catalogue) hostProduct(name string) (kvmProduct, bool) {
	label, _, _ := strings.Cut(strings.ToLower(strings.TrimSuffix(name, ".")), ".")
	for _, p := range c.products {
		if label == p.host || strings.HasPrefix(label, p.host+"-") {
			return p, true
		}
	}
	return kvmProduct{}, false
}

// instanceProduct returns the product named in a DNS-SD instance name
// ("PiKVM._https._tcp.local.").
func (c *catalogue) instanceProduct(instance string) (kvmProduct, bool) {
	label := strings.ToLower(firstLabel(instance))
	for _, p := range c.products {
		for _, w := range p.words {
			if strings.Contains(label, w) {
				return p, true
			}
		}
	}
	return kvmProduct{}, false
}
