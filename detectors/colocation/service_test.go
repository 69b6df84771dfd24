package colocation

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/netip"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"

	"github.com/farmwatch/farmwatch/detectors"
)

// freeUDPPort returns a port nothing listens on now.
func freeUDPPort(t *testing.T) int {
	t.Helper()
	c, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	return c.LocalAddr().(*net.UDPAddr).Port
}

// loopbackService is a beacon on 127.0.0.1 that announces to the given
// ports by unicast instead of the LAN's multicast and broadcast.
func loopbackService(t *testing.T, id string, port int, to ...int) *Service {
	t.Helper()
	pol, err := DecodePolicy(json.RawMessage(fmt.Sprintf(`{"beacon_port": %d, "beacon_interval": "5s"}`, port)))
	if err != nil {
		t.Fatal(err)
	}
	s, err := newService(detectors.ServiceConfig{DeviceID: id, FleetKey: testKey, Policy: pol, Log: zaptest.NewLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	s.interfaces = func(context.Context) ([]beaconInterface, error) { return nil, nil }
	s.listenAddr = func(port int) string { return fmt.Sprintf("127.0.0.1:%d", port) }
	for _, p := range to {
		s.extra = append(s.extra, netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), uint16(p)))
	}
	return s
}

// waitFor polls cond until it holds; the test's own deadline bounds it.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not reached", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestServiceLoopback runs two beacons over real sockets: the second one's
// first announcement makes the first answer at once (a new peer), so each
// hears the other without waiting an interval; stopping closes the socket.
func TestServiceLoopback(t *testing.T) {
	t.Parallel()
	pa, pb := freeUDPPort(t), freeUDPPort(t)
	a := loopbackService(t, peerA, pa, pb)
	b := loopbackService(t, peerB, pb, pa)
	ctx, cancel := context.WithCancel(context.Background())
	doneA, doneB := make(chan error, 1), make(chan error, 1)
	go func() { doneA <- a.Run(ctx) }()
	waitFor(t, "a running", func() bool { return a.View().Running })
	go func() { doneB <- b.Run(ctx) }()
	heard := func(s *Service, id string) func() bool {
		return func() bool {
			v := s.View()
			return len(v.Peers) == 1 && v.Peers[0].DeviceID == id
		}
	}
	waitFor(t, "b hears a", heard(b, peerA))
	waitFor(t, "a hears b", heard(a, peerB))
	v := a.View()
	if v.Stats == nil || v.Stats.Sent == 0 || v.Stats.Accepted == 0 || v.Port != pa || v.Peers[0].Addr != "127.0.0.1" {
		t.Errorf("view %+v", v)
	}
	var c detectors.ReportContext
	(&Observation{Beacon: v}).Contribute(&c)
	if len(c.Peers) != 1 || c.Peers[0].DeviceID != peerB || c.Peers[0].Via != ViaBroadcast || c.Beacons == nil {
		t.Errorf("contribution %+v", c)
	}

	// Turning the beacon off by policy closes its socket.
	off, _ := DecodePolicy(json.RawMessage(fmt.Sprintf(`{"beacon": false, "beacon_port": %d}`, pa)))
	a.SetPolicy(off)
	waitFor(t, "a off", func() bool { v := a.View(); return !v.Running && v.Reason != "" })
	waitFor(t, "a's port free", func() bool {
		c, err := net.ListenPacket("udp4", fmt.Sprintf("127.0.0.1:%d", pa))
		if err == nil {
			c.Close()
		}
		return err == nil
	})
	cancel()
	for _, done := range []chan error{doneA, doneB} {
		if err := <-done; err != nil {
			t.Errorf("run: %v", err)
		}
	}
	if v := b.View(); v.Running {
		t.Error("b still running after its context ended")
	}
}

func TestNewServiceRefuses(t *testing.T) {
	t.Parallel()
	for _, cfg := range []detectors.ServiceConfig{
		{DeviceID: "laptop", FleetKey: testKey},
		{DeviceID: peerA, FleetKey: []byte("short")},
	} {
		if _, err := NewService(cfg); err == nil {
			t.Errorf("%+v accepted", cfg)
		}
	}
}

// TestServicePortBusy: a beacon whose port is taken reports the error and
// keeps retrying instead of stopping.
func TestServicePortBusy(t *testing.T) {
	t.Parallel()
	busy, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	s := loopbackService(t, peerA, busy.LocalAddr().(*net.UDPAddr).Port)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	waitFor(t, "error reported", func() bool { v := s.View(); return !v.Running && v.Error != "" })
	cancel()
	if err := <-done; err != nil {
		t.Errorf("run: %v", err)
	}
}
