package kvm

import (
	"encoding/hex"
	"errors"
	"testing"
)

func fixtureEDIDBytes(t testing.TB, name string) []byte {
	t.Helper()
	b, err := hex.DecodeString(fixtureEDID(t, name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestParseEDID(t *testing.T) {
	t.Parallel()
	e, err := ParseEDID(fixtureEDIDBytes(t, "pikvm_v4plus"))
	if err != nil {
		t.Fatal(err)
	}
	want := EDID{
		Manufacturer: "LNX", ProductCode: 0x7773, SerialNumber: 0x01010101, Week: 35, Year: 2016,
		Version: 1, Revision: 3, Digital: true, MonitorName: "PiKVM V4 Plus", MonitorSerial: "CAFEBABE",
		PreferredWidth: 1920, PreferredHeight: 1080, ChecksumValid: true,
	}
	got := *e
	got.Fingerprint, got.Texts = "", nil
	if got.Manufacturer != want.Manufacturer || got.ProductCode != want.ProductCode || got.SerialNumber != want.SerialNumber ||
		got.Week != want.Week || got.Year != want.Year || got.Version != want.Version || got.Revision != want.Revision ||
		got.Digital != want.Digital || got.MonitorName != want.MonitorName || got.MonitorSerial != want.MonitorSerial ||
		got.PreferredWidth != want.PreferredWidth || got.PreferredHeight != want.PreferredHeight || got.ChecksumValid != want.ChecksumValid {
		t.Errorf("ParseEDID = %+v, want %+v", got, want)
	}
	if len(e.Fingerprint) != 64 || e.serialLabel() != "CAFEBABE" || e.panelLike() {
		t.Errorf("fingerprint %q, serial label %q, panelLike %v", e.Fingerprint, e.serialLabel(), e.panelLike())
	}

	panel, err := ParseEDID(fixtureEDIDBytes(t, "boe_panel"))
	if err != nil {
		t.Fatal(err)
	}
	if !panel.panelLike() || panel.Texts[1] != "NV140WUM-N41" || panel.serialLabel() != "" {
		t.Errorf("panel %+v: want panel-like with part number text", panel)
	}
}

// TestParseEDIDExtensions checks that extension blocks do not change the
// fingerprint: the identity is the base block.
func TestParseEDIDExtensions(t *testing.T) {
	t.Parallel()
	base := fixtureEDIDBytes(t, "dell_u2720q")
	withExt := append(append([]byte{}, base...), make([]byte, EDIDBlockSize)...)
	withExt[EDIDBlockSize] = 0x02 // CTA-861 extension tag
	a, err := ParseEDID(base)
	if err != nil {
		t.Fatal(err)
	}
	b, err := ParseEDID(withExt)
	if err != nil {
		t.Fatal(err)
	}
	if a.Fingerprint != b.Fingerprint {
		t.Errorf("fingerprint changed with an extension block: %s != %s", a.Fingerprint, b.Fingerprint)
	}
}

func TestParseEDIDBadChecksum(t *testing.T) {
	t.Parallel()
	b := fixtureEDIDBytes(t, "tinypilot")
	b[127]++
	e, err := ParseEDID(b)
	if err != nil {
		t.Fatal(err)
	}
	if e.ChecksumValid {
		t.Error("corrupted checksum reads as valid")
	}
	if e.MonitorName != "TinyPilot" {
		t.Errorf("identity lost with the checksum: %+v", e)
	}
}

func TestParseEDIDRejects(t *testing.T) {
	t.Parallel()
	bad := fixtureEDIDBytes(t, "tinypilot")
	bad[0] = 0x01
	for name, b := range map[string][]byte{
		"empty":      nil,
		"short":      fixtureEDIDBytes(t, "tinypilot")[:127],
		"bad header": bad,
		"descriptor": fixtureDescriptor(t, "wacom_pth660"),
	} {
		_, err := ParseEDID(b)
		if !errors.Is(err, ErrNotEDID) {
			t.Errorf("%s: err = %v, want ErrNotEDID", name, err)
		}
	}
}

func TestPnPID(t *testing.T) {
	t.Parallel()
	for v, want := range map[uint16]string{0x31D8: "LNX", 0x5262: "TSB", 0x4E04: "SPD", 0x410C: "PHL", 0x0000: "???"} {
		if got := pnpID(v); got != want {
			t.Errorf("pnpID(%#04x) = %q, want %q", v, got, want)
		}
	}
}

func FuzzParseEDID(f *testing.F) {
	addHexSeeds(f, "edid", fixtureEDIDBytes)
	f.Fuzz(func(t *testing.T, b []byte) {
		e, err := ParseEDID(b)
		if err != nil {
			return
		}
		if len(e.Manufacturer) != 3 || len(e.Fingerprint) != 64 {
			t.Fatalf("manufacturer %q, fingerprint %q", e.Manufacturer, e.Fingerprint)
		}
		if len(e.MonitorName) > 13 || len(e.MonitorSerial) > 13 || len(e.Texts) > 4 {
			t.Fatalf("descriptor text out of bounds: %+v", e)
		}
		if e.ChecksumValid != (checksum(b[:EDIDBlockSize]) == 0) {
			t.Fatal("checksum validity disagrees with the bytes")
		}
	})
}
