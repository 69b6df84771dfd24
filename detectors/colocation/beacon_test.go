package colocation

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"fmt"
	"net/netip"
	"testing"
	"time"
)

var (
	testKey  = []byte("0123456789abcdef0123456789abcdef")
	otherKey = []byte("another fleet's key, 32 bytes!!!")
	selfID   = "fw-00000000000000000000000000000000"
	peerA    = "fw-aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	peerB    = "fw-bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
	lanAddr  = netip.MustParseAddr("10.0.0.7")
	testT0   = time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)
)

func mustBeacon(t testing.TB, key []byte, id, via string, at time.Time, nonce byte) []byte {
	t.Helper()
	b, err := EncodeBeacon(key, Beacon{DeviceID: id, Via: via, Time: at, Nonce: [12]byte{nonce}})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func newTestReceiver(t testing.TB) *receiver {
	t.Helper()
	k, err := deriveBeaconKeys(testKey)
	if err != nil {
		t.Fatal(err)
	}
	return newReceiver(k, selfID, DefaultMaxSkew)
}

func TestBeaconRoundTrip(t *testing.T) {
	t.Parallel()
	b := Beacon{DeviceID: peerA, Via: ViaBroadcast, Time: testT0, Nonce: [12]byte{1, 2, 3}}
	data, err := EncodeBeacon(testKey, b)
	if err != nil {
		t.Fatal(err)
	}
	if len(data) != beaconHeaderLen+len(peerA)+beaconMACLen {
		t.Errorf("length %d", len(data))
	}
	got, err := DecodeBeacon(testKey, data)
	if err != nil || got != b {
		t.Fatalf("decode: %+v %v", got, err)
	}
	if _, err := DecodeBeacon(otherKey, data); err == nil {
		t.Error("another fleet's key verified the beacon")
	}
	// The raw fleet key is not the MAC key.
	raw := hmac.New(sha256.New, testKey)
	raw.Write(data[:len(data)-beaconMACLen])
	if bytes.Equal(raw.Sum(nil), data[len(data)-beaconMACLen:]) {
		t.Error("the beacon is authenticated with the raw fleet key")
	}
	for _, bad := range []Beacon{{DeviceID: "laptop-1", Via: ViaMulticast}, {DeviceID: peerA, Via: "carrier pigeon"}} {
		if _, err := EncodeBeacon(testKey, bad); err == nil {
			t.Errorf("%+v encoded", bad)
		}
	}
	if _, err := EncodeBeacon([]byte("short"), b); err == nil {
		t.Error("a 5-byte fleet key was accepted")
	}
}

func TestReceiverVerdicts(t *testing.T) {
	t.Parallel()
	good := mustBeacon(t, testKey, peerA, ViaMulticast, testT0, 1)
	forged := bytes.Clone(good)
	forged[beaconHeaderLen+5] = 'b' // another valid device id: same fleet, bad code
	// The verdicts depend on order (replay follows acceptance): one
	// receiver, cases in sequence.
	r := newTestReceiver(t)
	for _, tc := range []struct {
		name  string
		data  []byte
		at    time.Time
		want  string
		fresh bool
	}{
		{"accepted", good, testT0.Add(2 * time.Second), "", true},
		{"replayed", good, testT0.Add(3 * time.Second), RejectReplayed, false},
		{"second nonce", mustBeacon(t, testKey, peerA, ViaBroadcast, testT0, 2), testT0.Add(3 * time.Second), "", false},
		{"forged", forged, testT0, RejectBadMAC, false},
		{"foreign fleet", mustBeacon(t, otherKey, peerB, ViaMulticast, testT0, 1), testT0, RejectForeignFleet, false},
		{"self", mustBeacon(t, testKey, selfID, ViaMulticast, testT0, 1), testT0, RejectSelf, false},
		{"stale", mustBeacon(t, testKey, peerB, ViaMulticast, testT0.Add(-6*time.Minute), 1), testT0, RejectStale, false},
		{"future", mustBeacon(t, testKey, peerB, ViaMulticast, testT0.Add(6*time.Minute), 2), testT0, RejectStale, false},
		{"truncated", good[:40], testT0, RejectMalformed, false},
		{"trailing byte", append(bytes.Clone(good), 0), testT0, RejectMalformed, false},
		{"junk", []byte("hello, is this the beacon?"), testT0, RejectMalformed, false},
		{"peer B", mustBeacon(t, testKey, peerB, ViaBroadcast, testT0, 3), testT0, "", true},
	} {
		reason, fresh := r.handle(tc.data, lanAddr, tc.at)
		if reason != tc.want || fresh != tc.fresh {
			t.Errorf("%s: verdict %q fresh %v, want %q %v", tc.name, reason, fresh, tc.want, tc.fresh)
		}
	}
	st := r.stats(7)
	want := map[string]uint64{RejectReplayed: 1, RejectBadMAC: 1, RejectForeignFleet: 1, RejectSelf: 1, RejectStale: 2, RejectMalformed: 3}
	if st.Sent != 7 || st.Accepted != 3 || fmt.Sprint(st.Rejected) != fmt.Sprint(want) {
		t.Errorf("stats %+v, want accepted 3 rejected %v", st, want)
	}
	heard := r.heard(testT0.Add(time.Minute), 15*time.Minute)
	if len(heard) != 2 || heard[0].DeviceID != peerA || fmt.Sprint(heard[0].Vias) != "[multicast broadcast]" || heard[1].Addr != "10.0.0.7" {
		t.Errorf("heard %+v", heard)
	}
	if h := r.heard(testT0.Add(20*time.Minute), 15*time.Minute); len(h) != 0 {
		t.Errorf("peers outlive the window: %+v", h)
	}
}

// TestReplayCacheBounded: past the cap the oldest nonces are forgotten,
// yet their beacons stay refused (the floor), and evicted peers' beacons
// too.
func TestReplayCacheBounded(t *testing.T) {
	t.Parallel()
	r := newTestReceiver(t)
	var first []byte
	for i := range maxNoncesPerPeer + 10 {
		at := testT0.Add(time.Duration(i) * time.Millisecond)
		b, err := EncodeBeacon(testKey, Beacon{DeviceID: peerA, Via: ViaMulticast, Time: at, Nonce: [12]byte{byte(i), byte(i >> 8)}})
		if err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			first = b
		}
		if reason, _ := r.handle(b, lanAddr, testT0); reason != "" {
			t.Fatalf("beacon %d: %s", i, reason)
		}
	}
	if n := len(r.peers[peerA].nonces); n > maxNoncesPerPeer {
		t.Errorf("%d nonces kept, cap %d", n, maxNoncesPerPeer)
	}
	if reason, _ := r.handle(first, lanAddr, testT0); reason != RejectReplayed {
		t.Errorf("a forgotten nonce's beacon: %q", reason)
	}
	r.prune(testT0.Add(time.Hour), time.Minute)
	if len(r.peers) != 0 {
		t.Fatalf("prune kept %d peers", len(r.peers))
	}
	if reason, _ := r.handle(first, lanAddr, testT0); reason != RejectReplayed {
		t.Errorf("an evicted peer's old beacon: %q", reason)
	}
	// The peer table is capped.
	r = newTestReceiver(t)
	for i := range maxPeers + 5 {
		id := fmt.Sprintf("fw-%032x", i+1)
		b := mustBeacon(t, testKey, id, ViaMulticast, testT0.Add(time.Duration(i)*time.Millisecond), 1)
		if reason, _ := r.handle(b, lanAddr, testT0.Add(time.Duration(i)*time.Millisecond)); reason != "" {
			t.Fatalf("peer %d: %s", i, reason)
		}
		r.tokens = receiveBurst // not a rate-limit test
	}
	if len(r.peers) > maxPeers {
		t.Errorf("%d peers kept, cap %d", len(r.peers), maxPeers)
	}
}

func TestReceiverRateLimit(t *testing.T) {
	t.Parallel()
	r := newTestReceiver(t)
	limited := 0
	for i := range receiveBurst + 50 {
		b := mustBeacon(t, testKey, peerA, ViaMulticast, testT0, byte(i))
		b[20] = byte(i >> 8) // distinct times, so distinct datagrams
		if reason, _ := r.handle(b, lanAddr, testT0); reason == RejectRateLimited {
			limited++
		}
	}
	if limited != 50 {
		t.Errorf("%d rate-limited in one instant, want 50", limited)
	}
	// A second later the bucket has refilled by receiveRate.
	b := mustBeacon(t, testKey, peerB, ViaMulticast, testT0, 1)
	if reason, _ := r.handle(b, lanAddr, testT0.Add(time.Second)); reason != "" {
		t.Errorf("after a second: %q", reason)
	}
}

func FuzzBeaconDecode(f *testing.F) {
	f.Add(mustBeacon(f, testKey, peerA, ViaMulticast, testT0, 1))
	f.Add(mustBeacon(f, otherKey, peerB, ViaBroadcast, testT0, 2))
	f.Add([]byte("FWB\x01"))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		r := newTestReceiver(t)
		reason, _ := r.handle(data, lanAddr, testT0)
		if reason == "" {
			// Only a correctly authenticated beacon may be accepted.
			b, err := DecodeBeacon(testKey, data)
			if err != nil || b.DeviceID == selfID {
				t.Fatalf("accepted %x: %v", data, err)
			}
			again, err := EncodeBeacon(testKey, b)
			if err != nil || !bytes.Equal(again, data) {
				t.Fatalf("accepted datagram does not re-encode to itself: %v", err)
			}
		}
	})
}

// BenchmarkBeaconVerify measures what one received datagram costs the
// receiver: parse, fleet check, HMAC-SHA256 verify, replay check and the
// peer update, with a fresh nonce each time as on a real LAN.
func BenchmarkBeaconVerify(b *testing.B) {
	r := newTestReceiver(b)
	msgs := make([][]byte, 1024)
	for i := range msgs {
		msgs[i] = mustBeacon(b, testKey, fmt.Sprintf("fw-%032x", i+1), ViaMulticast, testT0, byte(i))
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		r.tokens = receiveBurst
		if i%len(msgs) == 0 {
			r.peers = map[string]*peerState{}
		}
		if reason, _ := r.handle(msgs[i%len(msgs)], lanAddr, testT0); reason != "" {
			b.Fatal(reason)
		}
	}
}
