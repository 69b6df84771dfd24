//go:build netns

package netns

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strings"
	"time"

	"golang.org/x/net/dns/dnsmessage"
	"golang.org/x/net/ipv4"

	"github.com/farmwatch/farmwatch/detectors/colocation"
)

// The test binary plays the KVM appliance and the forger inside their
// namespaces: TestMain runs the role named by this variable and exits.
const roleEnv = "FARMWATCH_NETNS_ROLE"

// runRole runs a role until ctx ends (the test stops it with SIGINT).
func runRole(ctx context.Context, role string) error {
	switch role {
	case "kvm":
		return kvmAppliance(ctx, os.Getenv("FARMWATCH_NETNS_IFACE"), netip.MustParseAddr(os.Getenv("FARMWATCH_NETNS_ADDR")))
	case "forger":
		return forger(ctx, os.Getenv("FARMWATCH_NETNS_IFACE"), netip.MustParseAddr(os.Getenv("FARMWATCH_NETNS_BROADCAST")))
	}
	return fmt.Errorf("unknown role %q", role)
}

// kvmAppliance answers mDNS queries for pikvm.local (A) and _https._tcp
// (PiKVM instance) the way avahi does: to the asking port by unicast
// when the query comes from another port than 5353 (legacy unicast).
func kvmAppliance(ctx context.Context, iface string, self netip.Addr) error {
	c, err := joined(iface, &net.UDPAddr{IP: net.IPv4(224, 0, 0, 251), Port: 5353})
	if err != nil {
		return fmt.Errorf("kvm: %w", err)
	}
	defer c.Close()
	context.AfterFunc(ctx, func() { c.Close() })
	buf := make([]byte, 9000)
	for {
		n, from, err := c.ReadFromUDP(buf)
		if err != nil {
			return nil
		}
		var p dnsmessage.Parser
		h, err := p.Start(buf[:n])
		if err != nil || h.Response {
			continue
		}
		qs, err := p.AllQuestions()
		if err != nil {
			continue
		}
		for _, q := range qs {
			resp, ok := answer(h.ID, q, self)
			if ok {
				dst := from
				if from.Port == 5353 {
					dst = &net.UDPAddr{IP: net.IPv4(224, 0, 0, 251), Port: 5353}
				}
				c.WriteToUDP(resp, dst)
			}
		}
	}
}

func answer(id uint16, q dnsmessage.Question, self netip.Addr) ([]byte, bool) {
	name := strings.ToLower(q.Name.String())
	host := dnsmessage.MustNewName("pikvm.local.")
	hdr := func(n dnsmessage.Name, t dnsmessage.Type) dnsmessage.ResourceHeader {
		return dnsmessage.ResourceHeader{Name: n, Type: t, Class: dnsmessage.ClassINET, TTL: 120}
	}
	b := dnsmessage.NewBuilder(nil, dnsmessage.Header{ID: id, Response: true, Authoritative: true})
	b.EnableCompression()
	b.StartQuestions()
	b.Question(q)
	b.StartAnswers()
	a := dnsmessage.AResource{A: self.As4()}
	switch {
	case name == "pikvm.local." && q.Type == dnsmessage.TypeA:
		b.AResource(hdr(host, dnsmessage.TypeA), a)
	case name == "_https._tcp.local." && q.Type == dnsmessage.TypePTR:
		inst := dnsmessage.MustNewName("PiKVM._https._tcp.local.")
		b.PTRResource(hdr(q.Name, dnsmessage.TypePTR), dnsmessage.PTRResource{PTR: inst})
		b.StartAdditionals()
		b.SRVResource(hdr(inst, dnsmessage.TypeSRV), dnsmessage.SRVResource{Port: 443, Target: host})
		b.AResource(hdr(host, dnsmessage.TypeA), a)
	default:
		return nil, false
	}
	out, err := b.Finish()
	return out, err == nil
}

// forger listens for the fleet's beacons and, for every agent it hears,
// sends a replay of its beacon, a forgery in its name (same fleet id,
// wrong code), a beacon of another fleet and junk, to the group and the
// broadcast address, once a second until ctx ends.
func forger(ctx context.Context, iface string, broadcast netip.Addr) error {
	group := &net.UDPAddr{IP: colocation.DefaultBeaconGroup.AsSlice(), Port: colocation.DefaultBeaconPort}
	c, err := joined(iface, group)
	if err != nil {
		return fmt.Errorf("forger: %w", err)
	}
	defer c.Close()
	context.AfterFunc(ctx, func() { c.Close() })
	captured := map[string][]byte{}
	foreignKey := make([]byte, 32)
	rand.Read(foreignKey)
	targets := []*net.UDPAddr{group, {IP: broadcast.AsSlice(), Port: colocation.DefaultBeaconPort}}
	next := time.Now()
	buf := make([]byte, 2048)
	for {
		c.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
		n, _, err := c.ReadFromUDP(buf)
		if ctx.Err() != nil {
			return nil
		}
		if err == nil && n > 40 && bytes.HasPrefix(buf[:n], []byte("FWB\x01")) {
			id := string(buf[34 : 34+int(buf[33])])
			captured[id] = bytes.Clone(buf[:n])
		}
		if time.Now().Before(next) || len(captured) == 0 {
			continue
		}
		next = time.Now().Add(time.Second)
		for id, real := range captured {
			forged := bytes.Clone(real)
			forged[len(forged)-1] ^= 0xff // same fleet id, broken code
			foreign, err := colocation.EncodeBeacon(foreignKey, colocation.Beacon{DeviceID: id, Via: colocation.ViaMulticast, Time: time.Now()})
			if err != nil {
				return err
			}
			for _, msg := range [][]byte{real, forged, foreign, []byte("not a beacon")} {
				for _, dst := range targets {
					if _, err := c.WriteToUDP(msg, dst); err != nil {
						fmt.Fprintln(os.Stderr, "forger: send:", err)
					}
				}
			}
		}
	}
}

// joined listens on the group's port on every address, joined to the
// group on iface, sending to multicast through iface with TTL 1.
func joined(iface string, group *net.UDPAddr) (*net.UDPConn, error) {
	ifi, err := net.InterfaceByName(iface)
	if err != nil {
		return nil, err
	}
	c, err := net.ListenUDP("udp4", &net.UDPAddr{Port: group.Port})
	if err != nil {
		return nil, fmt.Errorf("listen %d: %w", group.Port, err)
	}
	pc := ipv4.NewPacketConn(c)
	if err := pc.JoinGroup(ifi, &net.UDPAddr{IP: group.IP}); err != nil {
		c.Close()
		return nil, fmt.Errorf("join %s on %s: %w", group.IP, iface, err)
	}
	pc.SetMulticastInterface(ifi)
	pc.SetMulticastTTL(1)
	pc.SetMulticastLoopback(false)
	return c, nil
}
