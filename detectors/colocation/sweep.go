package colocation

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"

	"github.com/farmwatch/farmwatch/detectors/netinfo"
)

// errNoRawSocket says the process may not open a raw socket (it lacks
// CAP_NET_RAW).
var errNoRawSocket = errors.New("no CAP_NET_RAW: raw sockets not permitted")

// sweepTargets lists the addresses of p to ask, without the network and
// broadcast addresses and self. A subnet larger than /maxBits is refused.
func sweepTargets(p netip.Prefix, self netip.Addr, maxBits int) ([]netip.Addr, error) {
	if !p.Addr().Is4() {
		return nil, fmt.Errorf("sweep %s: not IPv4", p)
	}
	if p.Bits() < maxBits {
		return nil, fmt.Errorf("subnet %s is larger than /%d (sweep_max_prefix)", p.Masked(), maxBits)
	}
	if p.Bits() > 30 {
		return nil, fmt.Errorf("subnet %s has no other hosts", p.Masked())
	}
	bc, _ := broadcastAddr(p)
	var out []netip.Addr
	for a := p.Masked().Addr().Next(); a.IsValid() && a != bc; a = a.Next() {
		if a != self {
			out = append(out, a)
		}
	}
	return out, nil
}

// arpRequest builds the Ethernet frame asking who has dst.
func arpRequest(srcMAC net.HardwareAddr, src, dst netip.Addr) ([]byte, error) {
	eth := &layers.Ethernet{SrcMAC: srcMAC, DstMAC: layers.EthernetBroadcast, EthernetType: layers.EthernetTypeARP}
	s4, d4 := src.As4(), dst.As4()
	arp := &layers.ARP{
		AddrType: layers.LinkTypeEthernet, Protocol: layers.EthernetTypeIPv4, HwAddressSize: 6, ProtAddressSize: 4,
		Operation: layers.ARPRequest, SourceHwAddress: srcMAC, SourceProtAddress: s4[:],
		DstHwAddress: make([]byte, 6), DstProtAddress: d4[:],
	}
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, eth, arp); err != nil {
		return nil, fmt.Errorf("arp request for %s: %w", dst, err)
	}
	return buf.Bytes(), nil
}

// parseARPReply returns the sender of an ARP reply frame.
func parseARPReply(frame []byte) (netip.Addr, string, bool) {
	pkt := gopacket.NewPacket(frame, layers.LayerTypeEthernet, gopacket.DecodeOptions{Lazy: true, NoCopy: true})
	l, ok := pkt.Layer(layers.LayerTypeARP).(*layers.ARP)
	if !ok || l.Operation != layers.ARPReply || len(l.SourceProtAddress) != 4 || len(l.SourceHwAddress) != 6 {
		return netip.Addr{}, "", false
	}
	mac := netinfo.NormalizeMAC(net.HardwareAddr(l.SourceHwAddress).String())
	if mac == "" {
		return netip.Addr{}, "", false
	}
	return netip.AddrFrom4([4]byte(l.SourceProtAddress)), mac, true
}

// sweepRequest is one sweep to run.
type sweepRequest struct {
	Interface netinfo.Interface
	Source    netip.Addr
	Targets   []netip.Addr
	// Rate is the requests per second.
	Rate int
	// Linger is how long replies are awaited after the last request.
	Linger time.Duration
}

// sweepLinger is how long the sweep waits for replies after its last request.
const sweepLinger = time.Second

// sweepReply is a host that answered.
type sweepReply struct {
	IP  netip.Addr
	MAC string
}

// sweeper runs a sweep: the raw socket on Linux, a stand-in in tests.
type sweeper func(ctx context.Context, r sweepRequest) (sent int, replies []sweepReply, err error)
