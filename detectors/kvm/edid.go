package kvm

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
)

// EDIDBlockSize is the size of an EDID block (VESA E-EDID 1.4).
const EDIDBlockSize = 128

var edidHeader = []byte{0x00, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x00}

// ErrNotEDID is returned for data that does not start with an EDID base
// block.
var ErrNotEDID = errors.New("not an EDID base block")

// EDID is the identity and shape of a display, from its EDID base block.
type EDID struct {
	// Manufacturer is the three-letter PnP id ("DEL", "LNX").
	Manufacturer string
	ProductCode  uint16
	// SerialNumber is the 32-bit serial of bytes 12–15 (0 when unused).
	SerialNumber uint32
	Week         int
	Year         int
	Version      int
	Revision     int
	Digital      bool
	// WidthCM and HeightCM are the screen size (0 when undefined).
	WidthCM, HeightCM int
	// MonitorName and MonitorSerial are the 0xFC and 0xFF display
	// descriptors; Texts are the 0xFE (unspecified text) descriptors.
	MonitorName   string
	MonitorSerial string
	Texts         []string
	// PreferredWidth and PreferredHeight are the active pixels of the
	// first detailed timing descriptor.
	PreferredWidth, PreferredHeight int
	// Extensions is the extension block count of byte 126.
	Extensions    int
	ChecksumValid bool
	// Fingerprint is the hex SHA-256 of the base block: the same EDID,
	// cloned or not, on any host has the same fingerprint.
	Fingerprint string
}

// ParseEDID parses the base block of an EDID (the first 128 bytes; the
// extension blocks after it are ignored). A bad checksum is recorded in
// ChecksumValid, not failed on: hosts pass on what the display sent.
func ParseEDID(b []byte) (*EDID, error) {
	if len(b) < EDIDBlockSize {
		return nil, fmt.Errorf("parse EDID: %d bytes, want at least %d: %w", len(b), EDIDBlockSize, ErrNotEDID)
	}
	b = b[:EDIDBlockSize]
	if !bytes.Equal(b[:8], edidHeader) {
		return nil, fmt.Errorf("parse EDID: bad header % x: %w", b[:8], ErrNotEDID)
	}
	sum := sha256.Sum256(b)
	e := &EDID{
		Manufacturer:  pnpID(uint16(b[8])<<8 | uint16(b[9])),
		ProductCode:   uint16(b[10]) | uint16(b[11])<<8,
		SerialNumber:  uint32(b[12]) | uint32(b[13])<<8 | uint32(b[14])<<16 | uint32(b[15])<<24,
		Week:          int(b[16]),
		Version:       int(b[18]),
		Revision:      int(b[19]),
		Digital:       b[20]&0x80 != 0,
		WidthCM:       int(b[21]),
		HeightCM:      int(b[22]),
		Extensions:    int(b[126]),
		ChecksumValid: checksum(b) == 0,
		Fingerprint:   hex.EncodeToString(sum[:]),
	}
	if b[17] != 0 {
		e.Year = 1990 + int(b[17])
	}
	for i, off := 0, 54; i < 4; i, off = i+1, off+18 {
		d := b[off : off+18]
		if d[0] != 0 || d[1] != 0 {
			if e.PreferredWidth == 0 {
				e.PreferredWidth = int(d[2]) | int(d[4]&0xF0)<<4
				e.PreferredHeight = int(d[5]) | int(d[7]&0xF0)<<4
			}
			continue
		}
		switch d[3] {
		case 0xFC:
			e.MonitorName = descriptorText(d[5:])
		case 0xFF:
			e.MonitorSerial = descriptorText(d[5:])
		case 0xFE:
			if t := descriptorText(d[5:]); t != "" {
				e.Texts = append(e.Texts, t)
			}
		}
	}
	return e, nil
}

// pnpID decodes the manufacturer id: three 5-bit letters, 1 = 'A'.
func pnpID(v uint16) string {
	var s [3]byte
	for i, shift := range []uint{10, 5, 0} {
		c := byte(v>>shift) & 0x1F
		if c >= 1 && c <= 26 {
			s[i] = 'A' + c - 1
		} else {
			s[i] = '?'
		}
	}
	return string(s[:])
}

// descriptorText reads the 13-byte text of a display descriptor: ASCII up
// to a line feed, padded with spaces.
func descriptorText(b []byte) string {
	if i := bytes.IndexByte(b, 0x0A); i >= 0 {
		b = b[:i]
	}
	var sb strings.Builder
	for _, c := range b {
		if c >= 0x20 && c < 0x7F {
			sb.WriteByte(c)
		}
	}
	return strings.TrimSpace(sb.String())
}

func checksum(b []byte) byte {
	var s byte
	for _, c := range b {
		s += c
	}
	return s
}

// panelLike reports whether an EDID looks like a built-in laptop panel: a
// digital input without the monitor-name descriptor every external
// monitor carries (EDID 1.3 requires it), but with the unspecified-text
// descriptors panel makers put their part numbers in.
func (e *EDID) panelLike() bool {
	return e.Digital && e.MonitorName == "" && len(e.Texts) > 0
}

// serialLabel is the EDID's serial as people read it: the serial string,
// or else the 32-bit serial in hex.
func (e *EDID) serialLabel() string {
	if e.MonitorSerial != "" {
		return e.MonitorSerial
	}
	if e.SerialNumber != 0 {
		return fmt.Sprintf("%08x", e.SerialNumber)
	}
	return ""
}
