package colocation

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"hash"
	mrand "math/rand/v2"
	"net"
	"net/netip"
	"slices"
	"sync"
	"time"

	"go.uber.org/zap"
	"golang.org/x/net/ipv4"

	"github.com/farmwatch/farmwatch/detectors"
	"github.com/farmwatch/farmwatch/detectors/netinfo"
)

// Service is the peer beacon: for as long as the agent service runs, it
// announces this laptop on every up, non-loopback, non-tunnel IPv4
// interface (the multicast group with TTL 1, and the subnet broadcast
// where the policy allows) and listens for the announcements of the other
// agents of the fleet. Observe reads what it heard through View.
type Service struct {
	log      *zap.Logger
	now      func() time.Time
	deviceID string
	keys     beaconKeys
	mac      hash.Hash // used by the Run goroutine only

	mu      sync.Mutex
	pol     *Policy
	recv    *receiver
	sent    uint64
	running bool
	reason  string
	lastErr string
	ifaces  []string
	polCh   chan struct{}
	freshCh chan struct{}

	// Test seams: the interfaces to announce on, the address to listen on
	// and extra unicast destinations.
	interfaces func(ctx context.Context) ([]beaconInterface, error)
	listenAddr func(port int) string
	extra      []netip.AddrPort
}

// beaconInterface is an interface the beacon announces on.
type beaconInterface struct {
	ifi   *net.Interface
	addrs []netip.Prefix // IPv4
}

var _ detectors.Service = (*Service)(nil)

// minTriggeredGap spaces the announcements sent early because a new peer
// was heard (so that it hears this laptop without waiting an interval).
const minTriggeredGap = time.Second

// NewService builds the beacon from the agent's service configuration.
func NewService(cfg detectors.ServiceConfig) (detectors.Service, error) {
	return newService(cfg)
}

func newService(cfg detectors.ServiceConfig) (*Service, error) {
	if !deviceIDRE.MatchString(cfg.DeviceID) {
		return nil, fmt.Errorf("colocation beacon: device id %q is not an enrolled device id", cfg.DeviceID)
	}
	keys, err := deriveBeaconKeys(cfg.FleetKey)
	if err != nil {
		return nil, fmt.Errorf("colocation beacon: %w", err)
	}
	pol, _ := cfg.Policy.(*Policy)
	if pol == nil {
		pol = DefaultPolicy()
	}
	log := cfg.Log
	if log == nil {
		log = zap.NewNop()
	}
	now := cfg.Now
	if now == nil {
		now = time.Now
	}
	s := &Service{
		log: log, now: now, deviceID: cfg.DeviceID, keys: keys, mac: hmac.New(sha256.New, keys.mac),
		pol: pol, recv: newReceiver(keys, cfg.DeviceID, pol.MaxSkew),
		polCh: make(chan struct{}, 1), freshCh: make(chan struct{}, 1),
		listenAddr: func(port int) string { return fmt.Sprintf("0.0.0.0:%d", port) },
		reason:     "starting",
	}
	host := detectors.SystemHost(log)
	s.interfaces = func(ctx context.Context) ([]beaconInterface, error) { return systemBeaconInterfaces(ctx, host) }
	return s, nil
}

// SetPolicy implements detectors.Service; a change of port, group or
// broadcast reopens the sockets.
func (s *Service) SetPolicy(p detectors.Policy) {
	pol, ok := p.(*Policy)
	if !ok || pol == nil {
		return
	}
	s.mu.Lock()
	s.pol = pol
	s.recv.maxSkew = pol.MaxSkew
	s.mu.Unlock()
	select {
	case s.polCh <- struct{}{}:
	default:
	}
}

func (s *Service) policy() *Policy {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.pol
}

func (s *Service) setState(running bool, reason, lastErr string, ifaces []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.running, s.reason, s.lastErr = running, reason, lastErr
	if ifaces != nil || !running {
		s.ifaces = ifaces
	}
}

// View returns what the beacon heard: peers within the peer window, by
// device id, and the counters since start.
func (s *Service) View() BeaconView {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	st := s.recv.stats(s.sent)
	v := BeaconView{
		Running: s.running, Port: s.pol.BeaconPort, Group: s.pol.BeaconGroup.String(),
		Interfaces: slices.Clone(s.ifaces), Error: s.lastErr, Stats: &st,
		Peers: s.recv.heard(now, s.pol.PeerWindow),
	}
	if !s.running {
		v.Reason = s.reason
	}
	return v
}

// Run implements detectors.Service: it beacons until ctx ends, reopening
// its socket when the policy changes it or after a failure.
func (s *Service) Run(ctx context.Context) error {
	for {
		pol := s.policy()
		set := pol.beaconSettings()
		if !set.enabled {
			s.setState(false, "turned off by policy (beacon: false)", "", nil)
		} else if err := s.session(ctx, set); err != nil {
			s.log.Warn("peer beacon socket failed; retrying", zap.Error(err))
			s.setState(false, "socket failed", err.Error(), nil)
		}
		if ctx.Err() != nil {
			s.setState(false, "stopped", "", nil)
			return nil
		}
		if !set.enabled || s.policy().beaconSettings() == set {
			// Disabled, or failed: wait for a policy change or an interval.
			select {
			case <-ctx.Done():
				s.setState(false, "stopped", "", nil)
				return nil
			case <-s.polCh:
			case <-time.After(s.policy().BeaconInterval):
			}
		}
	}
}

// session runs one socket until ctx ends or the socket settings change.
// It returns nil when the settings changed.
func (s *Service) session(ctx context.Context, set beaconSettings) error {
	var lc net.ListenConfig
	conn, err := lc.ListenPacket(ctx, "udp4", s.listenAddr(set.port))
	if err != nil {
		return fmt.Errorf("colocation beacon: listen on UDP %d: %w", set.port, err)
	}
	pc := ipv4.NewPacketConn(conn)
	defer pc.Close()
	if err := pc.SetMulticastTTL(1); err != nil {
		s.log.Debug("multicast TTL not set", zap.Error(err))
	}
	if err := pc.SetMulticastLoopback(false); err != nil {
		s.log.Debug("multicast loopback not turned off", zap.Error(err))
	}
	readDone := make(chan struct{})
	go func() {
		defer close(readDone)
		s.read(pc)
	}()
	defer func() {
		pc.Close()
		<-readDone
	}()
	joined := map[int]bool{}
	var lastTriggered time.Time
	announce := func() {
		ifaces, err := s.interfaces(ctx)
		if err != nil {
			s.log.Warn("interfaces not listed; announcing on those known", zap.Error(err))
		}
		names := []string{}
		for _, bi := range ifaces {
			names = append(names, bi.ifi.Name)
			if !joined[bi.ifi.Index] {
				if err := pc.JoinGroup(bi.ifi, &net.UDPAddr{IP: set.group.AsSlice()}); err != nil {
					s.log.Debug("multicast group not joined", zap.String("interface", bi.ifi.Name), zap.Error(err))
				} else {
					joined[bi.ifi.Index] = true
				}
			}
		}
		errMsg := s.send(pc, set, ifaces)
		s.setState(true, "", errMsg, names)
	}
	announce()
	next := time.Now().Add(s.nextWait())
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-s.polCh:
			if s.policy().beaconSettings() != set {
				return nil
			}
			next = time.Now().Add(s.nextWait())
		case <-s.freshCh:
			if s.now().Sub(lastTriggered) >= minTriggeredGap {
				lastTriggered = s.now()
				announce()
			}
		case <-time.After(time.Until(next)):
			s.mu.Lock()
			s.recv.prune(s.now(), max(s.pol.PeerWindow, s.pol.MaxSkew))
			s.mu.Unlock()
			announce()
			next = time.Now().Add(s.nextWait())
		}
	}
}

// nextWait is the time to the next announcement: the interval less up to
// 10 % jitter, which keeps a LAN of agents from beaconing in step.
func (s *Service) nextWait() time.Duration {
	interval := s.policy().BeaconInterval
	return interval - time.Duration(mrand.Int64N(int64(interval/10)+1))
}

// send announces on every interface; it returns the last send error.
func (s *Service) send(pc *ipv4.PacketConn, set beaconSettings, ifaces []beaconInterface) string {
	var lastErr error
	sent := 0
	emit := func(via string, dst *net.UDPAddr) {
		b := Beacon{DeviceID: s.deviceID, Via: via, Time: s.now()}
		rand.Read(b.Nonce[:])
		msg, err := s.keys.encode(b, s.mac)
		if err == nil {
			_, err = pc.WriteTo(msg, nil, dst)
		}
		if err != nil {
			lastErr = fmt.Errorf("send %s to %s: %w", via, dst, err)
			return
		}
		sent++
	}
	group := &net.UDPAddr{IP: set.group.AsSlice(), Port: set.port}
	for _, bi := range ifaces {
		if err := pc.SetMulticastInterface(bi.ifi); err != nil {
			lastErr = fmt.Errorf("multicast interface %s: %w", bi.ifi.Name, err)
		} else {
			emit(ViaMulticast, group)
		}
		if set.broadcast {
			for _, p := range bi.addrs {
				if bc, ok := broadcastAddr(p); ok {
					emit(ViaBroadcast, &net.UDPAddr{IP: bc.AsSlice(), Port: set.port})
				}
			}
		}
	}
	for _, ap := range s.extra {
		emit(ViaBroadcast, net.UDPAddrFromAddrPort(ap))
	}
	s.mu.Lock()
	s.sent += uint64(sent)
	s.mu.Unlock()
	if lastErr != nil {
		s.log.Debug("beacon not sent everywhere", zap.Error(lastErr))
		return lastErr.Error()
	}
	return ""
}

// read handles datagrams until the socket closes.
func (s *Service) read(pc *ipv4.PacketConn) {
	buf := make([]byte, 2048)
	for {
		n, _, from, err := pc.ReadFrom(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			s.log.Debug("beacon read failed", zap.Error(err))
			time.Sleep(50 * time.Millisecond) // a persistent error must not spin
			continue
		}
		var addr netip.Addr
		if u, ok := from.(*net.UDPAddr); ok {
			addr = u.AddrPort().Addr().Unmap()
		}
		s.mu.Lock()
		reason, fresh := s.recv.handle(buf[:n], addr, s.now())
		s.mu.Unlock()
		if reason != "" && reason != RejectSelf {
			s.log.Debug("beacon ignored", zap.String("reason", reason), zap.Stringer("from", addr))
		}
		if fresh {
			select {
			case s.freshCh <- struct{}{}:
			default:
			}
		}
	}
}

// broadcastAddr is the directed broadcast address of an IPv4 subnet; none
// for /31 and /32.
func broadcastAddr(p netip.Prefix) (netip.Addr, bool) {
	if !p.Addr().Is4() || p.Bits() > 30 || p.Bits() < 8 {
		return netip.Addr{}, false
	}
	a := p.Masked().Addr().As4()
	host := uint32(1)<<(32-p.Bits()) - 1
	v := uint32(a[0])<<24 | uint32(a[1])<<16 | uint32(a[2])<<8 | uint32(a[3]) | host
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)}), true
}

// eligible reports whether the beacon and the LAN scans use an interface:
// up, not loopback, not a tunnel, with an IPv4 address.
func eligible(i netinfo.Interface) bool {
	if !i.Up || i.Kind == netinfo.KindLoopback || i.Kind == netinfo.KindTunnel {
		return false
	}
	return slices.ContainsFunc(i.Addrs, func(p netip.Prefix) bool { return p.Addr().Is4() && !p.Addr().IsLoopback() })
}

// systemBeaconInterfaces lists the interfaces to announce on.
func systemBeaconInterfaces(ctx context.Context, h *detectors.Host) ([]beaconInterface, error) {
	ifs, err := netinfo.Interfaces(ctx, h)
	if err != nil {
		return nil, err
	}
	var out []beaconInterface
	for _, i := range ifs {
		if !eligible(i) {
			continue
		}
		ifi, err := net.InterfaceByIndex(i.Index)
		if err != nil || ifi.Flags&net.FlagMulticast == 0 && ifi.Flags&net.FlagBroadcast == 0 {
			continue
		}
		bi := beaconInterface{ifi: ifi}
		for _, p := range i.Addrs {
			if p.Addr().Is4() {
				bi.addrs = append(bi.addrs, p)
			}
		}
		out = append(out, bi)
	}
	return out, nil
}
