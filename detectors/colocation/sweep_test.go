package colocation

import (
	"net"
	"net/netip"
	"testing"
)

func TestSweepTargets(t *testing.T) {
	t.Parallel()
	got, err := sweepTargets(netip.MustParsePrefix("10.1.2.7/24"), netip.MustParseAddr("10.1.2.7"), 24)
	if err != nil || len(got) != 253 || got[0].String() != "10.1.2.1" || got[252].String() != "10.1.2.254" {
		t.Fatalf("%d targets, %v", len(got), err)
	}
	for _, a := range got {
		if a.String() == "10.1.2.7" {
			t.Error("sweeps itself")
		}
	}
	if _, err := sweepTargets(netip.MustParsePrefix("10.1.0.7/16"), netip.MustParseAddr("10.1.0.7"), 24); err == nil {
		t.Error("a /16 under max /24")
	}
	if _, err := sweepTargets(netip.MustParsePrefix("10.1.0.7/32"), netip.MustParseAddr("10.1.0.7"), 24); err == nil {
		t.Error("a /32")
	}
	if got, _ := sweepTargets(netip.MustParsePrefix("10.1.0.5/30"), netip.MustParseAddr("10.1.0.5"), 24); len(got) != 1 || got[0].String() != "10.1.0.6" {
		t.Errorf("/30: %v", got)
	}
}

func TestARPFrames(t *testing.T) {
	t.Parallel()
	src := net.HardwareAddr{0x02, 0, 0, 0, 0, 1}
	req, err := arpRequest(src, netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("10.0.0.2"))
	if err != nil || len(req) != 60 { // padded to the Ethernet minimum
		t.Fatalf("request %d bytes, %v", len(req), err)
	}
	if _, _, ok := parseARPReply(req); ok {
		t.Error("a request parsed as a reply")
	}
	// The reply: the request with the operation, sender and target swapped.
	reply := append([]byte(nil), req...)
	copy(reply[0:6], src)
	copy(reply[6:12], []byte{0x30, 0x52, 0x53, 0xaa, 0xbb, 0xcc})
	reply[21] = 2
	copy(reply[22:28], []byte{0x30, 0x52, 0x53, 0xaa, 0xbb, 0xcc})
	copy(reply[28:32], []byte{10, 0, 0, 2})
	copy(reply[32:38], src)
	copy(reply[38:42], []byte{10, 0, 0, 1})
	ip, mac, ok := parseARPReply(reply)
	if !ok || ip.String() != "10.0.0.2" || mac != "30:52:53:aa:bb:cc" {
		t.Errorf("reply: %v %s %v", ip, mac, ok)
	}
	for _, bad := range [][]byte{nil, reply[:20], make([]byte, 60)} {
		if _, _, ok := parseARPReply(bad); ok {
			t.Errorf("%x parsed", bad)
		}
	}
}

func TestBroadcastAddr(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{"10.201.0.3/24": "10.201.0.255", "192.168.1.57/22": "192.168.3.255", "10.0.0.1/31": "", "10.0.0.1/32": ""} {
		got, ok := broadcastAddr(netip.MustParsePrefix(in))
		if (want == "") == ok || ok && got.String() != want {
			t.Errorf("%s: %v %v, want %q", in, got, ok, want)
		}
	}
}
