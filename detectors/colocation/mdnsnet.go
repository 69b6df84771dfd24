package colocation

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"time"

	"golang.org/x/net/ipv4"
)

// mdnsGroup is the IPv4 mDNS group.
var mdnsGroup = &net.UDPAddr{IP: net.IPv4(224, 0, 0, 251), Port: 5353}

// maxMDNSPackets bounds the datagrams one browse keeps.
const maxMDNSPackets = 512

// browser sends the queries on the interfaces (by index) and collects the
// answers for d: the network in the agent, recorded datagrams in tests.
type browser func(ctx context.Context, ifaces []int, queries [][]byte, d time.Duration) ([]mdnsPacket, error)

// systemBrowser asks from one ephemeral-port socket (legacy unicast, RFC
// 6762 §6.7) on every interface and reads the answers until d has passed.
func systemBrowser(ctx context.Context, ifaces []int, queries [][]byte, d time.Duration) ([]mdnsPacket, error) {
	var lc net.ListenConfig
	conn, err := lc.ListenPacket(ctx, "udp4", "0.0.0.0:0")
	if err != nil {
		return nil, fmt.Errorf("mdns: listen: %w", err)
	}
	defer conn.Close()
	pc := ipv4.NewPacketConn(conn)
	if err := pc.SetMulticastTTL(255); err != nil {
		return nil, fmt.Errorf("mdns: TTL: %w", err)
	}
	var sendErrs []error
	sent := 0
	for _, idx := range ifaces {
		ifi, err := net.InterfaceByIndex(idx)
		if err != nil {
			sendErrs = append(sendErrs, err)
			continue
		}
		if err := pc.SetMulticastInterface(ifi); err != nil {
			sendErrs = append(sendErrs, fmt.Errorf("%s: %w", ifi.Name, err))
			continue
		}
		for _, q := range queries {
			if _, err := pc.WriteTo(q, nil, mdnsGroup); err != nil {
				sendErrs = append(sendErrs, fmt.Errorf("%s: %w", ifi.Name, err))
				break
			}
			sent++
		}
	}
	if sent == 0 {
		return nil, fmt.Errorf("mdns: no query sent: %w", errors.Join(sendErrs...))
	}
	deadline := time.Now().Add(d)
	if dl, ok := ctx.Deadline(); ok && dl.Before(deadline) {
		deadline = dl
	}
	if err := conn.SetReadDeadline(deadline); err != nil {
		return nil, fmt.Errorf("mdns: %w", err)
	}
	stop := context.AfterFunc(ctx, func() { conn.SetReadDeadline(time.Now()) })
	defer stop()
	var out []mdnsPacket
	buf := make([]byte, 9000)
	for len(out) < maxMDNSPackets {
		n, from, err := conn.ReadFrom(buf)
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				break
			}
			return out, fmt.Errorf("mdns: read: %w", err)
		}
		var addr netip.Addr
		if u, ok := from.(*net.UDPAddr); ok {
			addr = u.AddrPort().Addr().Unmap()
		}
		out = append(out, mdnsPacket{From: addr, Data: append([]byte(nil), buf[:n]...)})
	}
	if len(sendErrs) > 0 {
		return out, fmt.Errorf("mdns: some queries not sent: %w", errors.Join(sendErrs...))
	}
	return out, ctx.Err()
}
