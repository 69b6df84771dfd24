package transport

import (
	"context"
	"crypto/ecdsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/farmwatch/farmwatch/detectors"
	"github.com/farmwatch/farmwatch/detectors/detectortest"
)

func testKey(t *testing.T) DeviceKey {
	t.Helper()
	k, err := LoadOrCreateKey(detectortest.TempDir(t))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func testReport(k DeviceKey) *Report {
	return &Report{
		Schema: ReportSchema, Kind: KindScan, DeviceID: k.DeviceID(), Seq: 7, BootID: "b1", AgentVersion: "test",
		SentAt: time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC),
		Findings: []detectors.Finding{{
			ID: "f1", Detector: "kvm", Rule: "kvm.pikvm_usb_identity", Severity: detectors.SeverityHigh, Confidence: 0.9,
			Title: "PiKVM attached over USB", Summary: "s", Evidence: map[string]any{"usb_serial": "CAFEBABE"},
			ObservedAt: time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC),
		}},
		Context: ReportContext{Host: HostContext{OS: "linux", Arch: "amd64", Hostname: "LT-1"}},
	}
}

func TestKeyPersistsAndIsPrivate(t *testing.T) {
	t.Parallel()
	dir := detectortest.TempDir(t)
	k1, err := LoadOrCreateKey(dir)
	if err != nil {
		t.Fatal(err)
	}
	k2, err := LoadOrCreateKey(dir)
	if err != nil {
		t.Fatal(err)
	}
	if k1.DeviceID() != k2.DeviceID() || !ValidDeviceID(k1.DeviceID()) {
		t.Fatalf("ids %q, %q", k1.DeviceID(), k2.DeviceID())
	}
	id, _ := DeviceIDFromPublicKey(k1.Public())
	if id != k1.DeviceID() {
		t.Errorf("id %q not derived from the key (%q)", k1.DeviceID(), id)
	}
	if runtime.GOOS == "windows" {
		return
	}
	st, err := os.Stat(filepath.Join(dir, KeyFileName))
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("key mode %v, want 0600", st.Mode().Perm())
	}
	if err := os.Chmod(filepath.Join(dir, KeyFileName), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadKey(dir); err == nil || !strings.Contains(err.Error(), "readable by others") {
		t.Errorf("a world-readable key was accepted: %v", err)
	}
}

func TestDeviceIDValidation(t *testing.T) {
	t.Parallel()
	for s, want := range map[string]bool{
		"fw-0123456789abcdef0123456789abcdef":  true,
		"fw-0123456789ABCDEF0123456789abcdef":  false,
		"fw-0123456789abcdef0123456789abcde":   false,
		"xx-0123456789abcdef0123456789abcdef":  false,
		"fw-0123456789abcdef0123456789abcdefg": false,
		"":                                     false,
	} {
		if got := ValidDeviceID(s); got != want {
			t.Errorf("ValidDeviceID(%q) = %v", s, got)
		}
	}
}

func TestSignVerifyRoundTrip(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	k := testKey(t)
	env, err := SignReport(ctx, k, testReport(k))
	if err != nil {
		t.Fatal(err)
	}
	if env.PayloadType != ReportPayloadType || len(env.Signatures) != 1 || env.Signatures[0].KeyID != k.DeviceID() {
		t.Fatalf("envelope %+v", env)
	}
	pub := k.Public().(*ecdsa.PublicKey)
	payload, err := VerifyEnvelope(ctx, env, pub, k.DeviceID())
	if err != nil {
		t.Fatal(err)
	}
	r, err := DecodeReport(payload)
	if err != nil {
		t.Fatal(err)
	}
	if r.Seq != 7 || r.Findings[0].Rule != "kvm.pikvm_usb_identity" || r.MaxSeverity() != detectors.SeverityHigh {
		t.Errorf("decoded %+v", r)
	}
}

func TestVerifyRefusesTampering(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	k, other := testKey(t), testKey(t)
	env, err := SignReport(ctx, k, testReport(k))
	if err != nil {
		t.Fatal(err)
	}
	pub := k.Public().(*ecdsa.PublicKey)
	body, _ := base64.StdEncoding.DecodeString(env.Payload)

	tampered := *env
	tampered.Payload = base64.StdEncoding.EncodeToString([]byte(strings.Replace(string(body), `"high"`, `"info"`, 1)))
	retyped := *env
	retyped.PayloadType = "application/vnd.in-toto+json"
	unsigned := *env
	unsigned.Signatures = nil
	for name, tc := range map[string]struct {
		env  *Envelope
		pub  *ecdsa.PublicKey
		want error
	}{
		"payload changed": {&tampered, pub, ErrBadSignature},
		"other key":       {env, other.Public().(*ecdsa.PublicKey), ErrBadSignature},
		"payload type":    {&retyped, pub, ErrPayloadType},
		"no signature":    {&unsigned, pub, ErrBadSignature},
	} {
		if _, err := VerifyEnvelope(ctx, tc.env, tc.pub, k.DeviceID()); !errors.Is(err, tc.want) {
			t.Errorf("%s: err = %v, want %v", name, err, tc.want)
		}
	}
}

func TestSignRefusesForeignReport(t *testing.T) {
	t.Parallel()
	k, other := testKey(t), testKey(t)
	if _, err := SignReport(context.Background(), k, testReport(other)); err == nil {
		t.Error("a report of another device was signed")
	}
}

func TestDecodeReportRefuses(t *testing.T) {
	t.Parallel()
	k := testKey(t)
	good, _ := json.Marshal(testReport(k))
	for name, mutate := range map[string]func(m map[string]any){
		"schema":        func(m map[string]any) { m["schema"] = "farmwatch.report/v2" },
		"kind":          func(m map[string]any) { m["kind"] = "party" },
		"device id":     func(m map[string]any) { m["device_id"] = "LT-1" },
		"seq zero":      func(m map[string]any) { m["seq"] = 0 },
		"no boot id":    func(m map[string]any) { m["boot_id"] = "" },
		"unknown field": func(m map[string]any) { m["extra"] = 1 },
		"raw gateway": func(m map[string]any) {
			m["context"].(map[string]any)["network"] = map[string]any{"gateway_hash": "aa:bb:cc:dd:ee:ff"}
		},
		"bad finding": func(m map[string]any) { m["findings"].([]any)[0].(map[string]any)["severity"] = "extreme" },
	} {
		var m map[string]any
		if err := json.Unmarshal(good, &m); err != nil {
			t.Fatal(err)
		}
		mutate(m)
		b, _ := json.Marshal(m)
		if _, err := DecodeReport(b); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if _, err := DecodeReport(append(good, []byte(" {}")...)); err == nil {
		t.Error("trailing data accepted")
	}
	if _, err := DecodeReport(good); err != nil {
		t.Errorf("good report refused: %v", err)
	}
}

func TestHashIdentifier(t *testing.T) {
	t.Parallel()
	k1, k2 := []byte("fleet-key-one-0123456789"), []byte("fleet-key-two-0123456789")
	a := HashIdentifier(k1, "gateway", "AA:BB:CC:DD:EE:FF")
	if a != HashIdentifier(k1, "gateway", " aa:bb:cc:dd:ee:ff") {
		t.Error("normalisation differs")
	}
	if a == HashIdentifier(k2, "gateway", "aa:bb:cc:dd:ee:ff") || a == HashIdentifier(k1, "bssid", "aa:bb:cc:dd:ee:ff") {
		t.Error("hash does not depend on key and kind")
	}
	if !validHash(a) || strings.Contains(a, "aa") && strings.Contains(a, "ff:") {
		t.Errorf("hash %q", a)
	}
}

func TestSeqCounterNeverReuses(t *testing.T) {
	t.Parallel()
	dir := detectortest.TempDir(t)
	c, err := OpenSeqCounter(dir)
	if err != nil {
		t.Fatal(err)
	}
	var last uint64
	for i := 0; i < seqBlock+10; i++ {
		n, err := c.Next()
		if err != nil {
			t.Fatal(err)
		}
		if n <= last {
			t.Fatalf("seq %d after %d", n, last)
		}
		last = n
	}
	// A restart (or crash) continues above everything handed out.
	c2, err := OpenSeqCounter(dir)
	if err != nil {
		t.Fatal(err)
	}
	n, err := c2.Next()
	if err != nil {
		t.Fatal(err)
	}
	if n <= last {
		t.Errorf("after restart seq %d, last was %d", n, last)
	}
	if err := os.WriteFile(filepath.Join(dir, SeqFileName), []byte("garbage"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := OpenSeqCounter(dir); err == nil {
		t.Error("a damaged counter was accepted")
	}
}

func TestPolicyVersionAndValidate(t *testing.T) {
	t.Parallel()
	p1 := FleetPolicy{ScanInterval: "30m", Settings: map[string]json.RawMessage{"kvm": json.RawMessage(`{"a": 1,  "b": [1, 2]}`)}}
	p2 := FleetPolicy{ScanInterval: "30m", Settings: map[string]json.RawMessage{"kvm": json.RawMessage(`{"a":1,"b":[1,2]}`)}}
	v1, err := PolicyVersion(p1)
	if err != nil {
		t.Fatal(err)
	}
	v2, _ := PolicyVersion(p2)
	if v1 != v2 {
		t.Errorf("formatting changed the version: %s %s", v1, v2)
	}
	p2.HeartbeatInterval = "20m"
	if v3, _ := PolicyVersion(p2); v3 == v1 {
		t.Error("a change kept the version")
	}
	for _, bad := range []FleetPolicy{
		{ScanInterval: "soon"},
		{HeartbeatInterval: "10s"},
		{Settings: map[string]json.RawMessage{"kvm": json.RawMessage(`[1]`)}},
		{LANSweep: true},
	} {
		if err := bad.Validate(); err == nil {
			t.Errorf("%+v accepted", bad)
		}
	}
	if s, h := (&FleetPolicy{}).Intervals(); s != time.Hour || h != 15*time.Minute {
		t.Errorf("defaults %v %v", s, h)
	}
	dir := detectortest.TempDir(t)
	doc := &PolicyDoc{Version: v1, Policy: p1}
	if err := SavePolicy(dir, doc); err != nil {
		t.Fatal(err)
	}
	got, err := LoadPolicy(dir)
	if err != nil || got.Version != v1 {
		t.Fatalf("LoadPolicy = %+v, %v", got, err)
	}
}

func TestRetryAfter(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)
	for in, want := range map[string]time.Duration{
		"":                              0,
		"120":                           2 * time.Minute,
		"-5":                            0,
		"999999":                        time.Hour,
		"Fri, 20 Nov 2026 10:00:30 GMT": 30 * time.Second,
		"soon":                          0,
	} {
		if got := parseRetryAfter(in, now); got != want {
			t.Errorf("parseRetryAfter(%q) = %v, want %v", in, got, want)
		}
	}
}
