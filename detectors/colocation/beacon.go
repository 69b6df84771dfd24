package colocation

import (
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"net/netip"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/farmwatch/farmwatch/detectors"
)

// Beacon wire format, version 1 (all integers big-endian):
//
//	0   "FWB" 0x01        magic and version
//	4   fleet id [8]      HKDF-SHA256(fleet key, "farmwatch beacon v1 fleet id")
//	12  via [1]           1 multicast, 2 broadcast
//	13  time [8]          sender's clock, Unix milliseconds
//	21  nonce [12]        random
//	33  n [1]             length of the device id (1…64)
//	34  device id [n]     "fw-" and 32 hex digits
//	34+n mac [32]         HMAC-SHA256 of bytes 0…34+n with the beacon key,
//	                      HKDF-SHA256(fleet key, "farmwatch beacon v1 mac key")
//
// The fleet id is a one-way derivative of the fleet key: it tells a
// beacon of another fleet (a foreign_fleet) from one of this fleet with a
// wrong code (a forgery, bad_mac) without revealing the key. The raw
// fleet key never authenticates anything itself.
const (
	beaconMagic     = "FWB\x01"
	beaconHeaderLen = 34
	beaconMACLen    = sha256.Size
	maxDeviceIDLen  = 64
	// MaxBeaconSize is the largest valid beacon.
	MaxBeaconSize = beaconHeaderLen + maxDeviceIDLen + beaconMACLen
)

// Ways a beacon is heard.
const (
	ViaMulticast = "multicast"
	ViaBroadcast = "broadcast"
)

// Reasons a received beacon is ignored (BeaconStats.Rejected keys).
const (
	RejectMalformed    = "malformed"
	RejectForeignFleet = "foreign_fleet"
	RejectBadMAC       = "bad_mac"
	RejectStale        = "stale"
	RejectReplayed     = "replayed"
	RejectSelf         = "self"
	RejectRateLimited  = "rate_limited"
)

var deviceIDRE = regexp.MustCompile(`^fw-[0-9a-f]{32}$`)

// Beacon is one announcement of an agent on its LAN.
type Beacon struct {
	DeviceID string
	// Via is how it was sent: ViaMulticast or ViaBroadcast.
	Via   string
	Time  time.Time
	Nonce [12]byte
}

// beaconKeys are what the fleet key yields for the beacon.
type beaconKeys struct {
	fleetID [8]byte
	mac     []byte
}

// deriveBeaconKeys derives the fleet id and the MAC key from the fleet key.
func deriveBeaconKeys(fleetKey []byte) (beaconKeys, error) {
	var k beaconKeys
	if len(fleetKey) < 16 {
		return k, fmt.Errorf("beacon keys: the fleet key has %d bytes, want at least 16", len(fleetKey))
	}
	id, err := hkdf.Key(sha256.New, fleetKey, nil, "farmwatch beacon v1 fleet id", len(k.fleetID))
	if err != nil {
		return k, fmt.Errorf("beacon keys: %w", err)
	}
	copy(k.fleetID[:], id)
	if k.mac, err = hkdf.Key(sha256.New, fleetKey, nil, "farmwatch beacon v1 mac key", 32); err != nil {
		return k, fmt.Errorf("beacon keys: %w", err)
	}
	return k, nil
}

// EncodeBeacon builds the datagram of b authenticated with the fleet key.
func EncodeBeacon(fleetKey []byte, b Beacon) ([]byte, error) {
	k, err := deriveBeaconKeys(fleetKey)
	if err != nil {
		return nil, err
	}
	return k.encode(b, hmac.New(sha256.New, k.mac))
}

func (k *beaconKeys) encode(b Beacon, mac hash.Hash) ([]byte, error) {
	if !deviceIDRE.MatchString(b.DeviceID) {
		return nil, fmt.Errorf("encode beacon: device id %q is not fw-<32 hex>", b.DeviceID)
	}
	var via byte
	switch b.Via {
	case ViaMulticast:
		via = 1
	case ViaBroadcast:
		via = 2
	default:
		return nil, fmt.Errorf("encode beacon: via %q is not %s or %s", b.Via, ViaMulticast, ViaBroadcast)
	}
	out := make([]byte, 0, beaconHeaderLen+len(b.DeviceID)+beaconMACLen)
	out = append(out, beaconMagic...)
	out = append(out, k.fleetID[:]...)
	out = append(out, via)
	out = binary.BigEndian.AppendUint64(out, uint64(b.Time.UnixMilli()))
	out = append(out, b.Nonce[:]...)
	out = append(out, byte(len(b.DeviceID)))
	out = append(out, b.DeviceID...)
	mac.Reset()
	mac.Write(out)
	return mac.Sum(out), nil
}

// errMalformed says a datagram is not a beacon of any fleet.
var errMalformed = errors.New("malformed beacon")

// parsedBeacon is a datagram split into its fields, not yet verified.
type parsedBeacon struct {
	Beacon
	fleetID [8]byte
	signed  []byte // the bytes the MAC covers
	mac     []byte
}

// parseBeacon splits a datagram into its fields; it checks the form only.
func parseBeacon(data []byte) (parsedBeacon, error) {
	var p parsedBeacon
	if len(data) < beaconHeaderLen+beaconMACLen || len(data) > MaxBeaconSize || string(data[:4]) != beaconMagic {
		return p, errMalformed
	}
	copy(p.fleetID[:], data[4:12])
	switch data[12] {
	case 1:
		p.Via = ViaMulticast
	case 2:
		p.Via = ViaBroadcast
	default:
		return p, errMalformed
	}
	p.Time = time.UnixMilli(int64(binary.BigEndian.Uint64(data[13:21]))).UTC()
	copy(p.Nonce[:], data[21:33])
	n := int(data[33])
	if n == 0 || n > maxDeviceIDLen || len(data) != beaconHeaderLen+n+beaconMACLen {
		return p, errMalformed
	}
	p.DeviceID = string(data[beaconHeaderLen : beaconHeaderLen+n])
	if !deviceIDRE.MatchString(p.DeviceID) {
		return p, errMalformed
	}
	p.signed = data[:beaconHeaderLen+n]
	p.mac = data[beaconHeaderLen+n:]
	return p, nil
}

// DecodeBeacon parses and verifies a datagram with the fleet key; it
// checks neither time nor replay (the receiver does).
func DecodeBeacon(fleetKey []byte, data []byte) (Beacon, error) {
	k, err := deriveBeaconKeys(fleetKey)
	if err != nil {
		return Beacon{}, err
	}
	p, err := parseBeacon(data)
	if err != nil {
		return Beacon{}, err
	}
	if p.fleetID != k.fleetID {
		return Beacon{}, errors.New("beacon of another fleet")
	}
	if !k.verify(&p, hmac.New(sha256.New, k.mac)) {
		return Beacon{}, errors.New("beacon authentication failed")
	}
	return p.Beacon, nil
}

func (k *beaconKeys) verify(p *parsedBeacon, mac hash.Hash) bool {
	mac.Reset()
	mac.Write(p.signed)
	var sum [sha256.Size]byte
	return hmac.Equal(mac.Sum(sum[:0]), p.mac)
}

// Bounds of the receiver's memory and work.
const (
	maxPeers         = 1024
	maxNoncesPerPeer = 64
	// receiveRate and receiveBurst bound how many datagrams a second the
	// receiver authenticates; 250 agents beaconing every minute send
	// about 10 a second.
	receiveRate  = 200
	receiveBurst = 400
)

// peerState is what the receiver remembers of one peer.
type peerState struct {
	id           string
	addr         netip.Addr
	first, last  time.Time
	multicastAt  time.Time
	broadcastAt  time.Time
	nonces       map[[12]byte]int64 // nonce → beacon time (Unix ms)
	floor        int64              // beacons at or before it are replays
	lastBeaconMS int64
}

// receiver judges received datagrams: it is the beacon without sockets.
// It is not safe for concurrent use; the service serialises calls.
type receiver struct {
	keys    beaconKeys
	mac     hash.Hash
	self    string
	maxSkew time.Duration
	peers   map[string]*peerState
	// unknownFloor is the newest beacon time of evicted peers: a beacon of
	// a device not in the table at or before it may be a replay.
	unknownFloor int64
	accepted     uint64
	rejected     map[string]uint64
	tokens       float64
	tokensAt     time.Time
}

func newReceiver(keys beaconKeys, self string, maxSkew time.Duration) *receiver {
	return &receiver{
		keys: keys, mac: hmac.New(sha256.New, keys.mac), self: self, maxSkew: maxSkew,
		peers: map[string]*peerState{}, rejected: map[string]uint64{}, tokens: receiveBurst,
	}
}

// handle judges one datagram received from addr at now. It returns ""
// when the beacon is accepted, else the reason it is ignored; fresh is
// true when an accepted beacon is the first heard from its peer.
func (r *receiver) handle(data []byte, addr netip.Addr, now time.Time) (reason string, fresh bool) {
	reason, fresh = r.judge(data, addr, now)
	if reason == "" {
		r.accepted++
	} else {
		r.rejected[reason]++
	}
	return reason, fresh
}

func (r *receiver) judge(data []byte, addr netip.Addr, now time.Time) (string, bool) {
	p, err := parseBeacon(data)
	if err != nil {
		return RejectMalformed, false
	}
	if p.fleetID != r.keys.fleetID {
		return RejectForeignFleet, false
	}
	if !r.take(now) {
		return RejectRateLimited, false
	}
	if !r.keys.verify(&p, r.mac) {
		return RejectBadMAC, false
	}
	if p.DeviceID == r.self {
		return RejectSelf, false
	}
	skew := now.Sub(p.Time)
	if skew > r.maxSkew || skew < -r.maxSkew {
		return RejectStale, false
	}
	ms := p.Time.UnixMilli()
	ps := r.peers[p.DeviceID]
	if ps == nil && ms <= r.unknownFloor {
		return RejectReplayed, false
	}
	if ps != nil {
		if _, dup := ps.nonces[p.Nonce]; dup || ms <= ps.floor {
			return RejectReplayed, false
		}
	}
	fresh := ps == nil || now.Sub(ps.last) > r.maxSkew
	if ps == nil {
		r.evictFor(now)
		ps = &peerState{id: p.DeviceID, first: now, nonces: map[[12]byte]int64{}}
		r.peers[p.DeviceID] = ps
	}
	r.remember(ps, p.Nonce, ms, now)
	ps.addr, ps.last = addr, now
	ps.lastBeaconMS = max(ps.lastBeaconMS, ms)
	if p.Via == ViaMulticast {
		ps.multicastAt = now
	} else {
		ps.broadcastAt = now
	}
	return "", fresh
}

// take spends a token of the receive rate limit.
func (r *receiver) take(now time.Time) bool {
	if !r.tokensAt.IsZero() {
		if d := now.Sub(r.tokensAt); d > 0 {
			r.tokens = min(receiveBurst, r.tokens+d.Seconds()*receiveRate)
		}
	}
	r.tokensAt = now
	if r.tokens < 1 {
		return false
	}
	r.tokens--
	return true
}

// remember records a nonce, forgetting those too old to be replayed (a
// replay of them is stale) and, past the cap, the oldest, whose time then
// becomes the peer's floor.
func (r *receiver) remember(ps *peerState, nonce [12]byte, ms int64, now time.Time) {
	oldest := now.Add(-r.maxSkew).UnixMilli()
	if len(ps.nonces) >= maxNoncesPerPeer {
		for n, t := range ps.nonces {
			if t < oldest {
				delete(ps.nonces, n)
			}
		}
	}
	for len(ps.nonces) >= maxNoncesPerPeer {
		var minN [12]byte
		minT := int64(1<<63 - 1)
		for n, t := range ps.nonces {
			if t < minT {
				minN, minT = n, t
			}
		}
		delete(ps.nonces, minN)
		ps.floor = max(ps.floor, minT)
	}
	ps.nonces[nonce] = ms
}

// evictFor makes room for one more peer: peers silent for longer than the
// replay window go first, then the one heard least recently.
func (r *receiver) evictFor(now time.Time) {
	if len(r.peers) < maxPeers {
		return
	}
	for id, ps := range r.peers {
		if now.Sub(ps.last) > r.maxSkew {
			r.drop(id, ps)
		}
	}
	if len(r.peers) < maxPeers {
		return
	}
	var oldest *peerState
	for _, ps := range r.peers {
		if oldest == nil || ps.last.Before(oldest.last) {
			oldest = ps
		}
	}
	r.drop(oldest.id, oldest)
}

func (r *receiver) drop(id string, ps *peerState) {
	r.unknownFloor = max(r.unknownFloor, ps.lastBeaconMS, ps.floor)
	delete(r.peers, id)
}

// heard lists the peers heard within window before now, by device id.
func (r *receiver) heard(now time.Time, window time.Duration) []HeardPeer {
	var out []HeardPeer
	for _, ps := range r.peers {
		if now.Sub(ps.last) > window {
			continue
		}
		h := HeardPeer{DeviceID: ps.id, Addr: ps.addr.String(), FirstHeard: ps.first.UTC(), LastHeard: ps.last.UTC()}
		if !ps.multicastAt.IsZero() && now.Sub(ps.multicastAt) <= window {
			h.Vias = append(h.Vias, ViaMulticast)
		}
		if !ps.broadcastAt.IsZero() && now.Sub(ps.broadcastAt) <= window {
			h.Vias = append(h.Vias, ViaBroadcast)
		}
		out = append(out, h)
	}
	slices.SortFunc(out, func(a, b HeardPeer) int { return strings.Compare(a.DeviceID, b.DeviceID) })
	return out
}

// stats returns the counters; sent is the service's.
func (r *receiver) stats(sent uint64) detectors.BeaconStats {
	s := detectors.BeaconStats{Sent: sent, Accepted: r.accepted}
	for k, v := range r.rejected {
		if v > 0 {
			if s.Rejected == nil {
				s.Rejected = map[string]uint64{}
			}
			s.Rejected[k] = v
		}
	}
	return s
}

// prune forgets peers silent for longer than keep.
func (r *receiver) prune(now time.Time, keep time.Duration) {
	for id, ps := range r.peers {
		if now.Sub(ps.last) > keep {
			r.drop(id, ps)
		}
	}
}
