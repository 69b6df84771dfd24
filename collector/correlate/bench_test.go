package correlate

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"testing"
	"time"

	"github.com/farmwatch/farmwatch/collector/store"
)

// benchHash is a stand-in for a fleet-keyed HMAC: 64 hex characters.
func benchHash(kind string, n int) string {
	sum := sha256.Sum256(fmt.Appendf(nil, "%s/%d", kind, n))
	return hex.EncodeToString(sum[:])
}

// benchFleet builds n devices: each with its own public IP, gateway and
// one or two BSSIDs, a common SSID; about 1% in farms of 3–12 devices
// (sharing a public IP, a gateway, or only beacons); beacons inside farms
// and towards unknown ids; a few KVM serials, some shared; 2% silent and
// 1% stale devices; and 200 open alerts (farm alerts overlapping the
// farms, silent alerts).
func benchFleet(n int) ([]store.Device, []store.Alert) {
	rng := rand.New(rand.NewPCG(1, 2))
	base := netip.MustParseAddr("45.0.0.0").As4()
	ipOf := func(i int) string {
		a := base
		a[1], a[2], a[3] = byte(i>>16), byte(i>>8), byte(i)
		return netip.AddrFrom4(a).String()
	}
	ssids := make([]string, 50)
	for k := range ssids {
		ssids[k] = benchHash("ssid", k)
	}
	devices := make([]store.Device, n)
	for i := range devices {
		d := store.Device{
			ID:          fmt.Sprintf("dev-%06d", i),
			Hostname:    fmt.Sprintf("LT-%06d", i),
			Owner:       fmt.Sprintf("user%05d@example.com", i/2),
			LastSeen:    now.Add(-time.Duration(rng.IntN(20*60)) * time.Minute),
			LastKind:    "scan",
			PublicIP:    ipOf(i),
			MaxSeverity: rng.IntN(3),
			Network: store.Network{
				GatewayHash: benchHash("gw", i),
				BSSIDHashes: []string{benchHash("ap", i)},
				SSIDHash:    ssids[rng.IntN(len(ssids))],
			},
		}
		if rng.IntN(2) == 0 {
			d.Network.BSSIDHashes = append(d.Network.BSSIDHashes, benchHash("ap2", i))
		}
		switch r := rng.IntN(100); {
		case r < 2:
			d.LastSeen = now.Add(-96 * time.Hour) // silent
		case r < 3:
			d.LastSeen = now.Add(-30 * time.Hour) // stale, not silent yet
		}
		if rng.IntN(200) == 0 {
			d.Network.KVMSerials = []string{benchHash("kvm", rng.IntN(1000))}
		}
		if rng.IntN(50) == 0 {
			d.Network.Peers = append(d.Network.Peers, store.PeerHeard{
				DeviceID: fmt.Sprintf("unknown-%d", i), Via: "mdns", At: now.Add(-time.Hour)})
		}
		devices[i] = d
	}

	// Farms: consecutive runs of devices spread over the fleet.
	var open []store.Alert
	farmDevices := n / 100
	for start, f := 0, 0; farmDevices > 0; f++ {
		size := min(3+rng.IntN(10), farmDevices)
		farmDevices -= size
		start += 1 + rng.IntN(2*n/140)
		if start+size > n {
			break
		}
		members := devices[start : start+size]
		mode := rng.IntN(4)
		for k := range members {
			m := &members[k]
			m.LastSeen = now.Add(-time.Duration(rng.IntN(600)) * time.Minute)
			switch mode {
			case 0, 1: // one public IP
				m.PublicIP = ipOf(n + f)
			case 2: // one home router behind different egress (VPN per laptop)
				m.Network.GatewayHash = benchHash("farm-gw", f)
			case 3: // beacons only, in a chain
				if k > 0 {
					m.Network.Peers = append(m.Network.Peers, store.PeerHeard{
						DeviceID: members[k-1].ID, Via: "mdns", At: now.Add(-time.Hour)})
				}
			}
		}
		if len(open) < 100 {
			a := store.Alert{ID: int64(len(open) + 1), Key: fmt.Sprintf("farm:public_ip:%s", ipOf(n+f)),
				Kind: KindFarm, Status: store.AlertNew}
			for _, m := range members[:size-1] { // the last one is new
				a.Members = append(a.Members, m.ID)
			}
			open = append(open, a)
		}
		start += size
	}
	for i := 0; len(open) < 200; i = (i + n/100 + 1) % n {
		d := devices[i]
		open = append(open, store.Alert{ID: int64(len(open) + 1), Key: "silent:" + d.ID,
			Kind: KindSilent, Status: store.AlertNew, Members: []string{d.ID}})
	}
	return devices, open
}

func BenchmarkCorrelate100k(b *testing.B) {
	devices, open := benchFleet(100_000)
	opts := Options{OfficeCIDRs: []netip.Prefix{netip.MustParsePrefix("198.51.100.0/24")}}
	r := Correlate(devices, open, opts, now)
	farms, kvm, silent := 0, 0, 0
	for _, a := range r.Alerts {
		switch a.Kind {
		case KindFarm:
			farms++
		case KindKVMShared:
			kvm++
		case KindSilent:
			silent++
		}
	}
	b.Logf("100k devices, %d open alerts: %d farms, %d shared KVMs, %d silent, %d recovered",
		len(open), farms, kvm, silent, len(r.Recovered))
	b.ReportAllocs()
	for b.Loop() {
		Correlate(devices, open, opts, now)
	}
}
