package colocation

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"golang.org/x/net/dns/dnsmessage"

	"github.com/farmwatch/farmwatch/detectors"
	"github.com/farmwatch/farmwatch/detectors/netinfo"
)

// Name is the detector's name in config, snapshots and findings.
const Name = "colocation"

func init() {
	detectors.Register(detectors.Info{
		Name:        Name,
		Description: "the laptop's LAN: other company laptops heard through the peer beacon, KVM appliances by mDNS name and MAC block, gateway and Wi-Fi identity (hashed before it leaves)",
		New:         New,
		Platforms:   []string{"linux", "darwin", "windows"},
		Service:     NewService,
	})
}

// Detector is the colocation detector.
type Detector struct {
	net    netReader
	browse browser
	sweep  sweeper
}

// netReader reads the host's network facts: detectors/netinfo on the
// real host, recorded answers in tests of other OSes.
type netReader struct {
	interfaces func(context.Context, *detectors.Host) ([]netinfo.Interface, error)
	gateway    func(context.Context, *detectors.Host) (netinfo.Gateway, error)
	neighbours func(context.Context, *detectors.Host) ([]netinfo.Neighbour, error)
	wifi       func(context.Context, *detectors.Host) (netinfo.WiFiStatus, error)
}

var systemNet = netReader{interfaces: netinfo.Interfaces, gateway: netinfo.DefaultGateway, neighbours: netinfo.Neighbours, wifi: netinfo.WiFi}

var _ detectors.Detector = (*Detector)(nil)

// New returns a colocation detector that browses and sweeps the real
// network.
func New() detectors.Detector {
	return &Detector{net: systemNet, browse: systemBrowser, sweep: systemSweeper}
}

// Name implements detectors.Detector.
func (*Detector) Name() string { return Name }

// DecodePolicy implements detectors.Detector.
func (d *Detector) DecodePolicy(raw json.RawMessage) (detectors.Policy, error) {
	return DecodePolicy(raw)
}

// DecodeObservation implements detectors.Detector.
func (*Detector) DecodeObservation(raw json.RawMessage) (detectors.Observation, error) {
	return decodeObservation(raw)
}

// Evaluate implements detectors.Detector. The previous observation is not
// used: the peer window is measured within the observation.
func (*Detector) Evaluate(cur, _ detectors.Observation, pol detectors.Policy) []detectors.Finding {
	o, ok := cur.(*Observation)
	if !ok || o == nil {
		return nil
	}
	p, _ := pol.(*Policy)
	if p == nil {
		p = DefaultPolicy()
	}
	return evaluate(o, p)
}

// beaconViewer is the running beacon as Observe sees it.
type beaconViewer interface{ View() BeaconView }

var _ detectors.PolicyObserver = (*Detector)(nil)

// Observe implements detectors.Detector with the default policy.
func (d *Detector) Observe(ctx context.Context, h *detectors.Host) (detectors.Observation, error) {
	return d.ObserveWith(ctx, h, nil)
}

// ObserveWith implements detectors.PolicyObserver: the interfaces, the default
// gateway, an mDNS/DNS-SD browse and (when the policy enables it) an ARP
// sweep, then the neighbour table (which the browse and sweep refresh),
// Wi-Fi, and what the peer beacon heard. A source that cannot be read is
// listed in the observation's errors; Observe fails only on an
// unsupported platform or a cancelled context.
func (d *Detector) ObserveWith(ctx context.Context, h *detectors.Host, p detectors.Policy) (detectors.Observation, error) {
	switch h.GOOS {
	case "linux", "darwin", "windows":
	default:
		return nil, fmt.Errorf("colocation: observe %s: %w", h.GOOS, detectors.ErrUnsupported)
	}
	pol, _ := p.(*Policy)
	if pol == nil {
		pol = DefaultPolicy()
	}
	cat := newCatalogue(pol)
	o := &Observation{Schema: Schema, OS: h.GOOS, CollectedAt: h.Now().UTC(), Interfaces: []Interface{}, Neighbours: []Neighbour{}}
	fail := func(source string, err error) {
		o.Errors = append(o.Errors, detectors.SourceError{Source: source, Error: err.Error()})
	}
	ifs, err := d.net.interfaces(ctx, h)
	if err != nil {
		fail("interfaces", err)
	}
	for _, i := range ifs {
		o.Interfaces = append(o.Interfaces, Interface{Interface: i, KVM: cat.match(i.MAC)})
	}
	gw, err := d.net.gateway(ctx, h)
	switch {
	case errors.Is(err, netinfo.ErrNoGateway):
	case err != nil && !gw.IP.IsValid():
		fail("gateway", err)
	default:
		if err != nil {
			fail("gateway", err)
		}
		o.Gateway = &Gateway{Gateway: gw, KVM: cat.match(gw.MAC)}
	}
	d.observeMDNS(ctx, pol, cat, ifs, o)
	sweepReplies := d.observeSweep(ctx, h.GOOS, pol, ifs, o)
	ns, err := d.net.neighbours(ctx, h)
	if err != nil {
		fail("neighbours", err)
	}
	for _, n := range ns {
		o.Neighbours = append(o.Neighbours, Neighbour{Neighbour: n, Source: "table", KVM: cat.match(n.MAC)})
	}
	for _, r := range sweepReplies {
		o.Neighbours = append(o.Neighbours, Neighbour{Neighbour: netinfo.Neighbour{IP: r.IP, MAC: r.MAC, Interface: o.Sweep.Interface}, Source: "sweep", KVM: cat.match(r.MAC)})
	}
	if o.WiFi, err = d.net.wifi(ctx, h); err != nil {
		fail("wifi", err)
		o.WiFi.Reason = err.Error()
	}
	if v, ok := h.Services[Name].(beaconViewer); ok {
		o.Beacon = v.View()
	} else {
		o.Beacon = BeaconView{Reason: "the peer beacon runs in the agent service (farmwatch run) only; this scan heard no peers"}
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("colocation: observe: %w", err)
	}
	return o, nil
}

// match returns the KVM block of mac, nil if none.
func (c *catalogue) match(mac string) *KVMMatch {
	if mac == "" {
		return nil
	}
	m, ok := c.macVendor(mac)
	if !ok {
		return nil
	}
	return &KVMMatch{Vendor: m.Vendor, Prefix: m.Prefix, Weak: m.Weak}
}

// scanInterfaces are the interfaces the LAN scans use.
func scanInterfaces(ifs []netinfo.Interface) []netinfo.Interface {
	var out []netinfo.Interface
	for _, i := range ifs {
		if eligible(i) {
			out = append(out, i)
		}
	}
	return out
}

func (d *Detector) observeMDNS(ctx context.Context, pol *Policy, cat *catalogue, ifs []netinfo.Interface, o *Observation) {
	if !pol.MDNS {
		o.MDNS.Skipped = "disabled by policy (mdns: false)"
		return
	}
	scan := scanInterfaces(ifs)
	if len(scan) == 0 {
		o.MDNS.Skipped = "no up IPv4 interface outside loopback and tunnels"
		return
	}
	var idx []int
	for _, i := range scan {
		idx = append(idx, i.Index)
		o.MDNS.Interfaces = append(o.MDNS.Interfaces, i.Name)
	}
	var queries [][]byte
	for n, q := range cat.mdnsQuestions() {
		b, err := buildMDNSQuery(uint16(n+1), q)
		if err != nil {
			o.Errors = append(o.Errors, detectors.SourceError{Source: "mdns", Error: err.Error()})
			return
		}
		queries = append(queries, b)
		o.MDNS.Queried = append(o.MDNS.Queried, strings.ToLower(q.Name.String())+" "+typeName(q.Type))
	}
	packets, err := d.browse(ctx, idx, queries, pol.MDNSDuration)
	o.MDNS.Ran = true
	o.MDNS.DurationMS = pol.MDNSDuration.Milliseconds()
	if err != nil {
		o.Errors = append(o.Errors, detectors.SourceError{Source: "mdns", Error: err.Error()})
	}
	cat.collectMDNS(packets, &o.MDNS)
}

func typeName(t dnsmessage.Type) string {
	return strings.TrimPrefix(t.String(), "Type")
}

// observeSweep runs the ARP sweep on the gateway's interface, else the
// first interface the scans use, when the policy allows.
func (d *Detector) observeSweep(ctx context.Context, goos string, pol *Policy, ifs []netinfo.Interface, o *Observation) []sweepReply {
	switch {
	case !pol.ARPSweep:
		o.Sweep.Skipped = "disabled by policy (arp_sweep: false)"
		return nil
	case goos != "linux":
		o.Sweep.Skipped = "not Linux: the ARP sweep needs Linux packet sockets"
		return nil
	}
	scan := scanInterfaces(ifs)
	if len(scan) == 0 {
		o.Sweep.Skipped = "no up IPv4 interface outside loopback and tunnels"
		return nil
	}
	ifc := scan[0]
	if o.Gateway != nil {
		if i := slices.IndexFunc(scan, func(i netinfo.Interface) bool { return i.Name == o.Gateway.Interface }); i >= 0 {
			ifc = scan[i]
		}
	}
	var prefix netip.Prefix
	for _, p := range ifc.Addrs {
		if p.Addr().Is4() {
			prefix = p
			break
		}
	}
	o.Sweep.Interface, o.Sweep.Prefix = ifc.Name, prefix.Masked().String()
	targets, err := sweepTargets(prefix, prefix.Addr(), pol.SweepMaxPrefix)
	if err != nil {
		o.Sweep.Skipped = err.Error()
		return nil
	}
	sent, replies, err := d.sweep(ctx, sweepRequest{Interface: ifc, Source: prefix.Addr(), Targets: targets, Rate: pol.SweepRate, Linger: sweepLinger})
	if errors.Is(err, errNoRawSocket) {
		o.Sweep.Skipped = err.Error()
		return nil
	}
	o.Sweep.Ran, o.Sweep.Sent, o.Sweep.Answered = true, sent, len(replies)
	if err != nil {
		o.Sweep.Error = err.Error()
	}
	slices.SortFunc(replies, func(a, b sweepReply) int { return a.IP.Compare(b.IP) })
	return replies
}
