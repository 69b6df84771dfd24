package kvm

import (
	"bytes"
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strings"
)

// Policy is the kvm detector's policy section:
//
//	kvm:
//	  allow_usb:               # sanctioned devices (a lab PiKVM …)
//	    - {vendor_id: "1d6b", product_id: "0104", serial: "CAFEBABE"}
//	  allow_edid_fingerprints: # hex SHA-256 of an EDID base block
//	    - "3f1c…"
//	  disable_rules: [kvm.capture_edid]
//
// The zero value is the default policy: nothing allowed, every rule on.
type Policy struct {
	AllowUSB              []AllowedUSB `json:"allow_usb,omitempty"`
	AllowEDIDFingerprints []string     `json:"allow_edid_fingerprints,omitempty"`
	DisableRules          []string     `json:"disable_rules,omitempty"`
}

// AllowedUSB names a sanctioned USB device; an empty serial allows every
// device with the vendor and product id.
type AllowedUSB struct {
	VendorID  string `json:"vendor_id"`
	ProductID string `json:"product_id"`
	Serial    string `json:"serial,omitempty"`
}

var (
	hexID       = regexp.MustCompile(`^[0-9a-f]{4}$`)
	fingerprint = regexp.MustCompile(`^[0-9a-f]{64}$`)
)

// decodePolicy parses and validates a policy section; empty input (or
// JSON null) is the default policy.
func decodePolicy(raw json.RawMessage) (*Policy, error) {
	p := &Policy{}
	if t := bytes.TrimSpace(raw); len(t) == 0 || bytes.Equal(t, []byte("null")) {
		return p, nil
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(p); err != nil {
		return nil, fmt.Errorf("kvm policy: %w", err)
	}
	for i, a := range p.AllowUSB {
		a.VendorID, a.ProductID = strings.ToLower(a.VendorID), strings.ToLower(a.ProductID)
		if !hexID.MatchString(a.VendorID) || !hexID.MatchString(a.ProductID) {
			return nil, fmt.Errorf("kvm policy: allow_usb[%d]: vendor_id and product_id must be 4 hex digits, got %q:%q", i, a.VendorID, a.ProductID)
		}
		p.AllowUSB[i] = a
	}
	for i, f := range p.AllowEDIDFingerprints {
		f = strings.ToLower(f)
		if !fingerprint.MatchString(f) {
			return nil, fmt.Errorf("kvm policy: allow_edid_fingerprints[%d]: %q is not a hex SHA-256", i, f)
		}
		p.AllowEDIDFingerprints[i] = f
	}
	rules := Rules()
	for _, r := range p.DisableRules {
		if !slices.Contains(rules, r) {
			return nil, fmt.Errorf("kvm policy: disable_rules: unknown rule %q (known: %s)", r, strings.Join(rules, ", "))
		}
	}
	return p, nil
}

func (p *Policy) allowsUSB(d *USBDevice) bool {
	for _, a := range p.AllowUSB {
		if strings.EqualFold(a.VendorID, d.VendorID) && strings.EqualFold(a.ProductID, d.ProductID) &&
			(a.Serial == "" || strings.EqualFold(strings.TrimSpace(a.Serial), strings.TrimSpace(d.Serial))) {
			return true
		}
	}
	return false
}

func (p *Policy) allowsEDID(fp string) bool {
	return slices.Contains(p.AllowEDIDFingerprints, fp)
}

func (p *Policy) disabled(rule string) bool {
	return slices.Contains(p.DisableRules, rule)
}
