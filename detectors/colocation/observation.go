package colocation

import (
	"encoding/json"
	"slices"
	"strings"
	"time"

	"github.com/farmwatch/farmwatch/detectors"
	"github.com/farmwatch/farmwatch/detectors/netinfo"
)

// Schema is the version of Observation.
const Schema = "colocation/v1"

// Observation is what the colocation detector saw of the laptop's LAN. It
// keeps raw values (MACs, SSIDs) and stays on the laptop: what leaves it
// goes through Contribute, where the agent hashes identifiers, and
// through findings, whose evidence carries no raw MAC or SSID.
type Observation struct {
	Schema string `json:"schema"`
	OS     string `json:"os"`
	// CollectedAt is the host clock when the observation was made; the
	// peer window is measured back from it.
	CollectedAt time.Time          `json:"collected_at"`
	Interfaces  []Interface        `json:"interfaces"`
	Gateway     *Gateway           `json:"gateway,omitempty"`
	Neighbours  []Neighbour        `json:"neighbours"`
	WiFi        netinfo.WiFiStatus `json:"wifi"`
	MDNS        MDNSResult         `json:"mdns"`
	Sweep       SweepResult        `json:"sweep"`
	Beacon      BeaconView         `json:"beacon"`
	// Errors lists the sources that could not be read.
	Errors []detectors.SourceError `json:"errors,omitempty"`
}

// ObservationSchema implements detectors.Observation.
func (*Observation) ObservationSchema() string { return Schema }

// KVMMatch says a MAC address falls in a KVM vendor's block.
type KVMMatch struct {
	Vendor string `json:"vendor"`
	// Prefix is the matching block ("30:52:53").
	Prefix string `json:"prefix"`
	// Weak blocks also cover ordinary devices.
	Weak bool `json:"weak,omitempty"`
}

// Interface is a network interface of the laptop.
type Interface struct {
	netinfo.Interface
	// KVM is set when the interface's own MAC is a KVM block: the USB
	// network function of a KVM plugged into this laptop.
	KVM *KVMMatch `json:"kvm,omitempty"`
}

// Gateway is the default IPv4 gateway.
type Gateway struct {
	netinfo.Gateway
	KVM *KVMMatch `json:"kvm,omitempty"`
}

// Neighbour is an entry of the neighbour table, or a host that answered
// the ARP sweep.
type Neighbour struct {
	netinfo.Neighbour
	// Source is "table" (the OS neighbour table) or "sweep".
	Source string    `json:"source"`
	KVM    *KVMMatch `json:"kvm,omitempty"`
}

// MDNSResult is what the mDNS/DNS-SD browse heard.
type MDNSResult struct {
	// Ran is false when the browse was skipped; Skipped says why.
	Ran        bool     `json:"ran"`
	Skipped    string   `json:"skipped,omitempty"`
	Interfaces []string `json:"interfaces,omitempty"`
	// Queried lists the names asked for.
	Queried []string `json:"queried,omitempty"`
	// DurationMS is how long answers were collected.
	DurationMS int64 `json:"duration_ms,omitempty"`
	// Responses counts the response datagrams heard; Unparsed those that
	// did not parse.
	Responses int           `json:"responses"`
	Unparsed  int           `json:"unparsed,omitempty"`
	Hosts     []MDNSHost    `json:"hosts,omitempty"`
	Services  []MDNSService `json:"services,omitempty"`
}

// MDNSHost is a host name and its addresses, with the responder's address.
type MDNSHost struct {
	Name  string   `json:"name"`
	Addrs []string `json:"addrs,omitempty"`
	// From is the address the answer came from.
	From string `json:"from"`
	// KVM names the appliance whose default name this is.
	KVM string `json:"kvm,omitempty"`
}

// MDNSService is a DNS-SD service instance.
type MDNSService struct {
	Instance string `json:"instance"`
	// Type is the service type ("_https._tcp.local.").
	Type string `json:"type"`
	Host string `json:"host,omitempty"`
	Port int    `json:"port,omitempty"`
	From string `json:"from"`
	KVM  string `json:"kvm,omitempty"`
}

// SweepResult is the outcome of the ARP sweep.
type SweepResult struct {
	Ran bool `json:"ran"`
	// Skipped says why it did not run: disabled by policy, no CAP_NET_RAW,
	// not Linux, subnet too big, no IPv4 interface.
	Skipped   string `json:"skipped,omitempty"`
	Interface string `json:"interface,omitempty"`
	Prefix    string `json:"prefix,omitempty"`
	Sent      int    `json:"sent,omitempty"`
	Answered  int    `json:"answered,omitempty"`
	Error     string `json:"error,omitempty"`
}

// BeaconView is the peer beacon's state: the peers heard and the counters.
type BeaconView struct {
	// Running is false in command-line scans (the beacon runs only in the
	// agent service) and when the policy turns it off; Reason says why.
	Running    bool     `json:"running"`
	Reason     string   `json:"reason,omitempty"`
	Port       int      `json:"port,omitempty"`
	Group      string   `json:"group,omitempty"`
	Interfaces []string `json:"interfaces,omitempty"`
	// Error is the last socket error, if any.
	Error string                 `json:"error,omitempty"`
	Peers []HeardPeer            `json:"peers,omitempty"`
	Stats *detectors.BeaconStats `json:"stats,omitempty"`
}

// HeardPeer is another agent of the fleet heard on the LAN.
type HeardPeer struct {
	DeviceID string `json:"device_id"`
	// Vias lists how it was heard within the peer window.
	Vias []string `json:"via"`
	// Addr is its address on the LAN.
	Addr       string    `json:"addr"`
	FirstHeard time.Time `json:"first_heard"`
	LastHeard  time.Time `json:"last_heard"`
}

// via is the way a peer is reported as heard: multicast when it was.
func (p HeardPeer) via() string {
	if slices.Contains(p.Vias, ViaMulticast) || len(p.Vias) == 0 {
		return ViaMulticast
	}
	return ViaBroadcast
}

// Contribute implements detectors.Contributor: the gateway MAC, the
// BSSIDs and SSID (the agent hashes them), the peers and the beacon
// counters.
func (o *Observation) Contribute(c *detectors.ReportContext) {
	if o.Gateway != nil && o.Gateway.MAC != "" {
		c.GatewayMAC = o.Gateway.MAC
	}
	for _, l := range o.WiFi.Links {
		if l.BSSID != "" && !slices.Contains(c.BSSIDs, l.BSSID) {
			c.BSSIDs = append(c.BSSIDs, l.BSSID)
		}
		if l.SSID != "" && c.SSID == "" {
			c.SSID = l.SSID
		}
	}
	for _, p := range o.Beacon.Peers {
		c.Peers = append(c.Peers, detectors.Peer{DeviceID: p.DeviceID, Via: p.via(), At: p.LastHeard})
	}
	if o.Beacon.Stats != nil {
		s := *o.Beacon.Stats
		c.Beacons = &s
	}
}

var _ detectors.Contributor = (*Observation)(nil)

// decodeObservation parses a recorded observation.
func decodeObservation(raw json.RawMessage) (*Observation, error) {
	o, err := detectors.DecodeObservation[Observation](raw, Schema)
	if err != nil {
		return nil, err
	}
	o.Schema = Schema
	return o, nil
}

// firstLabel returns the first label of a DNS name, unescaped of "\ ".
func firstLabel(name string) string {
	var b strings.Builder
	for i := 0; i < len(name); i++ {
		c := name[i]
		if c == '\\' && i+1 < len(name) {
			i++
			b.WriteByte(name[i])
			continue
		}
		if c == '.' {
			break
		}
		b.WriteByte(c)
	}
	return b.String()
}
