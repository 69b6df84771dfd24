package correlate

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/farmwatch/farmwatch/collector/store"
)

// now is the fixed time of every pass in these tests.
var now = time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)

// dev builds a device seen an hour ago by a scan, with no findings.
func dev(id, owner string, opts ...func(*store.Device)) store.Device {
	d := store.Device{
		ID:       id,
		Hostname: "LT-" + strings.ToUpper(id),
		Owner:    owner,
		LastSeen: now.Add(-time.Hour),
		LastKind: "scan",
	}
	for _, o := range opts {
		o(&d)
	}
	return d
}

func ip(s string) func(*store.Device) { return func(d *store.Device) { d.PublicIP = s } }
func gateway(h string) func(*store.Device) {
	return func(d *store.Device) { d.Network.GatewayHash = h }
}
func ssid(h string) func(*store.Device) { return func(d *store.Device) { d.Network.SSIDHash = h } }
func bssids(h ...string) func(*store.Device) {
	return func(d *store.Device) { d.Network.BSSIDHashes = h }
}
func kvms(h ...string) func(*store.Device) { return func(d *store.Device) { d.Network.KVMSerials = h } }
func seen(t time.Time) func(*store.Device) { return func(d *store.Device) { d.LastSeen = t } }
func lastKind(k string) func(*store.Device) {
	return func(d *store.Device) { d.LastKind = k }
}
func severity(s int) func(*store.Device) { return func(d *store.Device) { d.MaxSeverity = s } }
func revoked(d *store.Device)            { d.Revoked = true }
func heard(id string, at time.Time) func(*store.Device) {
	return func(d *store.Device) {
		d.Network.Peers = append(d.Network.Peers, store.PeerHeard{DeviceID: id, Via: "mdns", At: at})
	}
}

// onIP puts devices a, b, c … on one public IP, owners as given.
func onIP(addr string, owners ...string) []store.Device {
	var ds []store.Device
	for k, o := range owners {
		ds = append(ds, dev(fmt.Sprintf("%s-%c", strings.ReplaceAll(addr, ".", "_"), 'a'+k), o, ip(addr)))
	}
	return ds
}

func openAlert(id int64, kind, key string, members ...string) store.Alert {
	return store.Alert{ID: id, Key: key, Kind: kind, Status: store.AlertNew, Members: members}
}

// shape is what the table compares of each alert.
type shape struct {
	Key      string
	Kind     string
	Severity int
	Members  []string
}

func shapes(as []store.Alert) []shape {
	out := []shape{}
	for _, a := range as {
		out = append(out, shape{a.Key, a.Kind, a.Severity, a.Members})
	}
	return out
}

func TestCorrelate(t *testing.T) {
	t.Parallel()
	window := DefaultWindow
	tests := []struct {
		name      string
		devices   []store.Device
		open      []store.Alert
		opts      Options
		want      []shape
		recovered []int64
		check     func(t *testing.T, r Result)
	}{
		{
			name:    "five devices of four owners on one public IP",
			devices: onIP("203.0.113.7", "ann", "bob", "cyd", "dan", "ann"),
			want: []shape{{"farm:public_ip:203.0.113.7", KindFarm, severityHigh, []string{
				"203_0_113_7-a", "203_0_113_7-b", "203_0_113_7-c", "203_0_113_7-d", "203_0_113_7-e"}}},
		},
		{
			name:    "five devices are critical when CriticalDevices is 5",
			devices: onIP("203.0.113.7", "ann", "bob", "cyd", "dan", "ann"),
			opts:    Options{CriticalDevices: 5},
			want: []shape{{"farm:public_ip:203.0.113.7", KindFarm, severityCritical, []string{
				"203_0_113_7-a", "203_0_113_7-b", "203_0_113_7-c", "203_0_113_7-d", "203_0_113_7-e"}}},
		},
		{
			name:    "exactly CriticalDevices (6) is critical",
			devices: onIP("203.0.113.7", "a", "b", "c", "d", "e", "f"),
			want: []shape{{"farm:public_ip:203.0.113.7", KindFarm, severityCritical, []string{
				"203_0_113_7-a", "203_0_113_7-b", "203_0_113_7-c", "203_0_113_7-d", "203_0_113_7-e", "203_0_113_7-f"}}},
		},
		{
			name:    "two devices of two owners are not a farm",
			devices: onIP("203.0.113.7", "ann", "bob"),
		},
		{
			name:    "exactly MinDevices (3) of two owners is a farm",
			devices: onIP("203.0.113.7", "ann", "bob", "bob"),
			want: []shape{{"farm:public_ip:203.0.113.7", KindFarm, severityHigh, []string{
				"203_0_113_7-a", "203_0_113_7-b", "203_0_113_7-c"}}},
		},
		{
			name:    "three devices of one owner are not a farm (MinOwners)",
			devices: onIP("203.0.113.7", "ann", "ann", "ann"),
		},
		{
			name:    "devices without owner count as distinct unknown owners",
			devices: onIP("203.0.113.7", "", "", "ann"),
			want: []shape{{"farm:public_ip:203.0.113.7", KindFarm, severityHigh, []string{
				"203_0_113_7-a", "203_0_113_7-b", "203_0_113_7-c"}}},
		},
		{
			name:    "public IP inside an office CIDR never joins",
			devices: onIP("198.51.100.10", "ann", "bob", "cyd", "dan"),
			opts:    Options{OfficeCIDRs: []netip.Prefix{netip.MustParsePrefix("198.51.100.0/24")}},
		},
		{
			name:    "private public IP (the collector's proxy) never joins",
			devices: onIP("10.0.0.1", "ann", "bob", "cyd", "dan"),
		},
		{
			name:    "loopback never joins by default",
			devices: onIP("127.0.0.1", "ann", "bob", "cyd"),
		},
		{
			name:    "loopback joins in a lab with IncludePrivateIPs",
			devices: onIP("127.0.0.1", "ann", "bob", "cyd"),
			opts:    Options{IncludePrivateIPs: true},
			want: []shape{{"farm:public_ip:127.0.0.1", KindFarm, severityHigh, []string{
				"127_0_0_1-a", "127_0_0_1-b", "127_0_0_1-c"}}},
		},
		{
			name: "IPv4-mapped IPv6 equals IPv4",
			devices: []store.Device{
				dev("a", "ann", ip("203.0.113.9")),
				dev("b", "bob", ip("::ffff:203.0.113.9")),
				dev("c", "cyd", ip("203.0.113.9:51234")),
			},
			want: []shape{{"farm:public_ip:203.0.113.9", KindFarm, severityHigh, []string{"a", "b", "c"}}},
		},
		{
			name: "office gateway and BSSID hashes never join",
			devices: []store.Device{
				dev("a", "ann", gateway("gw-office"), bssids("ap-office")),
				dev("b", "bob", gateway("gw-office"), bssids("ap-office")),
				dev("c", "cyd", gateway("gw-office"), bssids("ap-office")),
			},
			opts: Options{OfficeNetworks: []string{"gw-office", "ap-office"}},
		},
		{
			name: "device last seen one nanosecond before the window is left out",
			devices: []store.Device{
				dev("a", "ann", ip("203.0.113.7")),
				dev("b", "bob", ip("203.0.113.7")),
				dev("c", "cyd", ip("203.0.113.7"), seen(now.Add(-window-time.Nanosecond))),
			},
		},
		{
			name: "device last seen exactly at now-Window is inside (inclusive)",
			devices: []store.Device{
				dev("a", "ann", ip("203.0.113.7")),
				dev("b", "bob", ip("203.0.113.7")),
				dev("c", "cyd", ip("203.0.113.7"), seen(now.Add(-window))),
			},
			want: []shape{{"farm:public_ip:203.0.113.7", KindFarm, severityHigh, []string{"a", "b", "c"}}},
		},
		{
			name: "device that never reported is left out",
			devices: []store.Device{
				dev("a", "ann", ip("203.0.113.7")),
				dev("b", "bob", ip("203.0.113.7")),
				dev("c", "cyd", ip("203.0.113.7"), seen(time.Time{})),
			},
		},
		{
			name: "revoked device is left out",
			devices: []store.Device{
				dev("a", "ann", ip("203.0.113.7")),
				dev("b", "bob", ip("203.0.113.7")),
				dev("c", "cyd", ip("203.0.113.7"), revoked),
			},
		},
		{
			name: "beacons only: A heard B, B heard C joins three",
			devices: []store.Device{
				dev("a", "ann", ip("203.0.113.1"), heard("b", now.Add(-time.Hour))),
				dev("b", "bob", ip("203.0.113.2"), heard("c", now.Add(-2*time.Hour))),
				dev("c", "cyd", ip("203.0.113.3")),
			},
			want: []shape{{"farm:beacon:b", KindFarm, severityHigh, []string{"a", "b", "c"}}},
			check: func(t *testing.T, r Result) {
				if s := r.Alerts[0].Summary; !strings.Contains(s, "Shared: LAN beacons heard among 3 devices.") {
					t.Errorf("summary %q does not sum the beacons up", s)
				}
			},
		},
		{
			name: "beacon heard exactly at now-Window joins (inclusive)",
			devices: []store.Device{
				dev("a", "ann", heard("b", now.Add(-window))),
				dev("b", "bob", heard("c", now)),
				dev("c", "cyd"),
			},
			want: []shape{{"farm:beacon:b", KindFarm, severityHigh, []string{"a", "b", "c"}}},
		},
		{
			name: "beacon heard a nanosecond before the window does not join",
			devices: []store.Device{
				dev("a", "ann", heard("b", now.Add(-window-time.Nanosecond))),
				dev("b", "bob", heard("c", now)),
				dev("c", "cyd"),
			},
		},
		{
			name: "beacons of unknown, revoked, stale devices and of itself are ignored",
			devices: []store.Device{
				dev("a", "ann", heard("ghost", now), heard("r", now), heard("old", now), heard("a", now)),
				dev("r", "bob", revoked),
				dev("old", "cyd", seen(now.Add(-48*time.Hour))),
				dev("b", "bob", heard("a", now)),
			},
		},
		{
			name: "mixed identifiers join into one component",
			devices: []store.Device{
				dev("a", "ann", ip("203.0.113.1")),
				dev("b", "bob", ip("203.0.113.1"), gateway("gw1")),
				dev("c", "cyd", ip("203.0.113.3"), gateway("gw1"), bssids("ap9", "ap1")),
				dev("d", "dan", ip("203.0.113.4"), bssids("ap1")),
				dev("e", "eve", ip("203.0.113.5"), heard("d", now.Add(-time.Minute))),
				dev("x", "xav", ip("203.0.113.6"), gateway("gw2"), bssids("ap9x")),
			},
			want: []shape{{"farm:beacon:d", KindFarm, severityHigh, []string{"a", "b", "c", "d", "e"}}},
		},
		{
			name: "SSID alone does not join",
			devices: []store.Device{
				dev("a", "ann", ip("203.0.113.1"), ssid("home")),
				dev("b", "bob", ip("203.0.113.2"), ssid("home")),
				dev("c", "cyd", ip("203.0.113.3"), ssid("home")),
			},
		},
		{
			name: "a member with a high finding makes the farm critical",
			devices: []store.Device{
				dev("a", "ann", gateway("gw1")),
				dev("b", "bob", gateway("gw1"), severity(3)),
				dev("c", "cyd", gateway("gw1"), severity(2)),
			},
			want: []shape{{"farm:gateway:gw1", KindFarm, severityCritical, []string{"a", "b", "c"}}},
			check: func(t *testing.T, r Result) {
				ev := farmEvidence(t, r.Alerts[0])
				if !slices.Equal(ev.HighSeverityMembers, []string{"b"}) || len(ev.Escalation) != 1 ||
					!strings.Contains(ev.Escalation[0], "high-severity findings") {
					t.Errorf("escalation = %q, high members %q", ev.Escalation, ev.HighSeverityMembers)
				}
			},
		},
		{
			name: "key of the open alert is kept when a member joins",
			devices: append(onIP("203.0.113.7", "ann", "bob", "cyd"),
				dev("new", "dan", ip("203.0.113.7"))),
			open: []store.Alert{
				openAlert(7, KindFarm, "farm:gateway:old", "203_0_113_7-a", "203_0_113_7-b", "203_0_113_7-c"),
				openAlert(8, KindFarm, "farm:gateway:elsewhere", "zz1", "zz2", "zz3"),
				{ID: 2, Key: "farm:gateway:resolved", Kind: KindFarm, Status: store.AlertResolved,
					Members: []string{"203_0_113_7-a", "203_0_113_7-b", "203_0_113_7-c", "new"}},
			},
			want: []shape{{"farm:gateway:old", KindFarm, severityHigh, []string{
				"203_0_113_7-a", "203_0_113_7-b", "203_0_113_7-c", "new"}}},
			check: func(t *testing.T, r Result) {
				if ev := farmEvidence(t, r.Alerts[0]); ev.MergedAlerts != nil {
					t.Errorf("merged_alerts = %v, want none", ev.MergedAlerts)
				}
			},
		},
		{
			name: "two open alerts merge into the one with most overlap",
			devices: []store.Device{
				dev("a", "ann", ip("203.0.113.7")), dev("b", "bob", ip("203.0.113.7")),
				dev("c", "cyd", ip("203.0.113.7"), gateway("g")),
				dev("d", "dan", gateway("g")), dev("e", "eve", gateway("g")),
			},
			open: []store.Alert{
				openAlert(5, KindFarm, "farm:gateway:g", "c", "d", "e"),
				openAlert(3, KindFarm, "farm:public_ip:203.0.113.7", "a", "b"),
			},
			want: []shape{{"farm:gateway:g", KindFarm, severityHigh, []string{"a", "b", "c", "d", "e"}}},
			check: func(t *testing.T, r Result) {
				ev := farmEvidence(t, r.Alerts[0])
				if !slices.Equal(ev.MergedAlerts, []int64{3}) {
					t.Errorf("merged_alerts = %v, want [3]", ev.MergedAlerts)
				}
				if !strings.Contains(r.Alerts[0].Summary, "Joins 1 other open farm alert") {
					t.Errorf("summary %q does not mention the merge", r.Alerts[0].Summary)
				}
			},
		},
		{
			name: "equal overlap: the lowest alert id wins",
			devices: []store.Device{
				dev("a", "ann", ip("203.0.113.7")), dev("b", "bob", ip("203.0.113.7")),
				dev("c", "cyd", ip("203.0.113.7")), dev("d", "dan", ip("203.0.113.7")),
			},
			open: []store.Alert{
				openAlert(9, KindFarm, "farm:k9", "c", "d"),
				openAlert(4, KindFarm, "farm:k4", "a", "b", "zz"),
			},
			want: []shape{{"farm:k4", KindFarm, severityHigh, []string{"a", "b", "c", "d"}}},
			check: func(t *testing.T, r Result) {
				if ev := farmEvidence(t, r.Alerts[0]); !slices.Equal(ev.MergedAlerts, []int64{9}) {
					t.Errorf("merged_alerts = %v, want [9]", ev.MergedAlerts)
				}
			},
		},
		{
			name: "a split farm keeps its key on one part only",
			devices: append(onIP("203.0.113.1", "ann", "bob", "cyd"),
				onIP("203.0.113.2", "ann", "bob", "cyd")...),
			open: []store.Alert{openAlert(1, KindFarm, "farm:old",
				"203_0_113_1-a", "203_0_113_1-b", "203_0_113_1-c", "203_0_113_2-a", "203_0_113_2-b", "203_0_113_2-c")},
			want: []shape{
				{"farm:old", KindFarm, severityHigh, []string{"203_0_113_1-a", "203_0_113_1-b", "203_0_113_1-c"}},
				{"farm:public_ip:203.0.113.2", KindFarm, severityHigh, []string{"203_0_113_2-a", "203_0_113_2-b", "203_0_113_2-c"}},
			},
		},
		{
			name: "a fresh key does not take a key reused in the same pass",
			devices: []store.Device{
				dev("a", "ann", gateway("g1")), dev("b", "bob", gateway("g1")), dev("c", "cyd", gateway("g1")),
				dev("d", "dan", gateway("g2")), dev("e", "eve", gateway("g2")), dev("f", "fay", gateway("g2"),
					bssids("ap")), dev("g", "gus", bssids("ap")),
			},
			open: []store.Alert{openAlert(1, KindFarm, "farm:bssid:ap", "a", "b")},
			want: []shape{
				{"farm:bssid:ap", KindFarm, severityHigh, []string{"a", "b", "c"}},
				{"farm:gateway:g2", KindFarm, severityHigh, []string{"d", "e", "f", "g"}},
			},
		},
		{
			name: "shared KVM serial on two devices",
			devices: []store.Device{
				dev("a", "ann", kvms("k1", "k1")),
				dev("b", "bob", kvms("k2", "k1")),
				dev("c", "cyd", kvms("k1"), revoked),
				dev("d", "dan", kvms("k2"), seen(now.Add(-30*time.Hour))),
				dev("e", "eve", kvms("k3")),
			},
			want: []shape{{"kvm_shared:k1", KindKVMShared, severityHigh, []string{"a", "b"}}},
		},
		{
			name: "silent devices and recovered alerts",
			devices: []store.Device{
				dev("s1", "ann", seen(now.Add(-73*time.Hour))),
				dev("s2", "bob", seen(now.Add(-73*time.Hour)), lastKind("stopping")),
				dev("s3", "cyd", seen(time.Time{})),
				dev("s4", "dan", seen(now.Add(-DefaultSilentAfter))),
				dev("s5", "eve", seen(now.Add(-DefaultSilentAfter-time.Nanosecond)), lastKind("heartbeat")),
				dev("s6", "fay", seen(now.Add(-100*time.Hour)), revoked),
				dev("r1", "gus"),
				dev("r2", "hal", revoked),
			},
			open: []store.Alert{
				openAlert(9, KindSilent, "silent:r1", "r1"),
				openAlert(10, KindSilent, "silent:s1", "s1"),
				openAlert(11, KindSilent, "silent:r2", "r2"),
				openAlert(12, KindSilent, "silent:gone", "gone"),
				openAlert(13, KindSilent, "silent:s2", "s2"),
				{ID: 14, Key: "silent:s4", Kind: KindSilent, Status: store.AlertResolved, Members: []string{"s4"}},
				openAlert(15, KindFarm, "silent:s3", "s3"),
			},
			want: []shape{
				{"silent:s1", KindSilent, severityMedium, []string{"s1"}},
				{"silent:s5", KindSilent, severityMedium, []string{"s5"}},
			},
			recovered: []int64{9, 13},
		},
		{
			name: "duplicate device ids: the most recently seen record counts",
			devices: []store.Device{
				dev("a", "ann", ip("203.0.113.7")), dev("b", "bob", ip("203.0.113.7")),
				dev("c", "cyd", ip("203.0.113.8"), seen(now.Add(-2*time.Hour))),
				dev("c", "cyd", ip("203.0.113.7")),
			},
			want: []shape{{"farm:public_ip:203.0.113.7", KindFarm, severityHigh, []string{"a", "b", "c"}}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := Correlate(tt.devices, tt.open, tt.opts, now)
			if got := shapes(r.Alerts); !reflect.DeepEqual(got, append([]shape{}, tt.want...)) {
				t.Errorf("alerts:\n got %+v\nwant %+v", got, tt.want)
			}
			if !slices.Equal(r.Recovered, tt.recovered) {
				t.Errorf("recovered = %v, want %v", r.Recovered, tt.recovered)
			}
			for _, a := range r.Alerts {
				if a.Title == "" || a.Summary == "" || !json.Valid(a.Evidence) || !a.FirstSeen.Equal(now) || !a.LastSeen.Equal(now) {
					t.Errorf("alert %s: title %q, summary %q, evidence valid %v, first/last seen %v/%v",
						a.Key, a.Title, a.Summary, json.Valid(a.Evidence), a.FirstSeen, a.LastSeen)
				}
			}
			if tt.check != nil && len(r.Alerts) > 0 {
				tt.check(t, r)
			}
		})
	}
}

func farmEvidence(t *testing.T, a store.Alert) FarmEvidence {
	t.Helper()
	var ev FarmEvidence
	if err := json.Unmarshal(a.Evidence, &ev); err != nil {
		t.Fatalf("alert %s evidence: %v", a.Key, err)
	}
	return ev
}

// TestEvidence decodes each kind's evidence and compares every field with
// the expected document (decoded too, so the comparison is of values).
func TestEvidence(t *testing.T) {
	t.Parallel()
	seen1 := now.Add(-time.Hour)
	seen2 := now.Add(-90 * time.Minute)
	devices := []store.Device{
		dev("a", "ann", ip("203.0.113.7"), gateway("gwhash-0123456789abcdef"), severity(3)),
		dev("b", "bob", ip("203.0.113.7"), seen(seen2), bssids("ap-1"), kvms("kvm-cafe")),
		dev("c", "", ip("::ffff:203.0.113.7"), bssids("ap-1"), heard("a", now.Add(-time.Minute)), kvms("kvm-cafe")),
		dev("d", "dan", gateway("gwhash-0123456789abcdef"), severity(-1)),
		dev("s", "sam", seen(now.Add(-80*time.Hour-30*time.Second)), lastKind("heartbeat")),
	}
	devices[0].Hostname = "" // falls back to the id in prose
	open := []store.Alert{
		openAlert(21, KindFarm, "farm:gateway:first", "a", "d"),
		openAlert(20, KindFarm, "farm:public_ip:203.0.113.7", "c"),
	}
	r := Correlate(devices, open, Options{Window: 36 * time.Hour}, now)
	tests := []struct {
		key  string
		want string
	}{
		{"farm:gateway:first", `{
			"members": [
				{"device_id":"a","hostname":"","owner":"ann","last_seen":"` + seen1.Format(time.RFC3339) + `","public_ip":"203.0.113.7","max_severity":3},
				{"device_id":"b","hostname":"LT-B","owner":"bob","last_seen":"` + seen2.Format(time.RFC3339) + `","public_ip":"203.0.113.7","max_severity":0},
				{"device_id":"c","hostname":"LT-C","owner":"","last_seen":"` + seen1.Format(time.RFC3339) + `","public_ip":"::ffff:203.0.113.7","max_severity":0},
				{"device_id":"d","hostname":"LT-D","owner":"dan","last_seen":"` + seen1.Format(time.RFC3339) + `","public_ip":"","max_severity":-1}
			],
			"shared": [
				{"kind":"beacon","value":"a","devices":["a","c"]},
				{"kind":"bssid","value":"ap-1","devices":["b","c"]},
				{"kind":"gateway","value":"gwhash-0123456789abcdef","devices":["a","d"]},
				{"kind":"public_ip","value":"203.0.113.7","devices":["a","b","c"]}
			],
			"owners": 4,
			"window": "36h",
			"escalation": ["1 member with high-severity findings (remote-access tool or KVM): a"],
			"high_severity_members": ["a"],
			"merged_alerts": [20]
		}`},
		{"kvm_shared:kvm-cafe", `{
			"serial_hash": "kvm-cafe",
			"devices": [
				{"device_id":"b","hostname":"LT-B","owner":"bob","last_seen":"` + seen2.Format(time.RFC3339) + `"},
				{"device_id":"c","hostname":"LT-C","owner":"","last_seen":"` + seen1.Format(time.RFC3339) + `"}
			],
			"owners": 2,
			"window": "36h"
		}`},
		{"silent:s", `{
			"device_id":"s","hostname":"LT-S","owner":"sam",
			"last_seen":"` + now.Add(-80*time.Hour-30*time.Second).Format(time.RFC3339) + `",
			"last_kind":"heartbeat","silent_for":"80h0m30s","silent_after":"72h"
		}`},
	}
	if len(r.Alerts) != len(tests) {
		t.Fatalf("got %d alerts %+v, want %d", len(r.Alerts), shapes(r.Alerts), len(tests))
	}
	for i, tt := range tests {
		a := r.Alerts[i]
		if a.Key != tt.key {
			t.Errorf("alert %d key = %q, want %q", i, a.Key, tt.key)
			continue
		}
		var got, want map[string]any
		if err := json.Unmarshal(a.Evidence, &got); err != nil {
			t.Fatalf("%s: evidence: %v", a.Key, err)
		}
		if err := json.Unmarshal([]byte(tt.want), &want); err != nil {
			t.Fatalf("%s: expected evidence: %v", a.Key, err)
		}
		if !reflect.DeepEqual(got, want) {
			g, _ := json.MarshalIndent(got, "", "  ")
			w, _ := json.MarshalIndent(want, "", "  ")
			t.Errorf("%s evidence:\n got %s\nwant %s", a.Key, g, w)
		}
	}
	farm := r.Alerts[0]
	if farm.Severity != severityCritical {
		t.Errorf("farm severity = %d, want critical", farm.Severity)
	}
	if want := "Suspected laptop farm: 4 devices of 4 owners on one network"; farm.Title != want {
		t.Errorf("farm title = %q, want %q", farm.Title, want)
	}
	for _, part := range []string{
		"4 devices of 4 owners were seen on one network in the last 36h",
		"the LAN beacon of a, heard by 1 device",
		"the same Wi-Fi access point, BSSID hash ap-1 (2 devices)",
		"the same default gateway, hash gwhash-01234… (2 devices)",
		"public IP 203.0.113.7 (3 devices)",
		"Critical: 1 member with high-severity findings",
	} {
		if !strings.Contains(farm.Summary, part) {
			t.Errorf("farm summary %q lacks %q", farm.Summary, part)
		}
	}
	if ip, beacon := strings.Index(farm.Summary, "public IP"), strings.Index(farm.Summary, "LAN beacon"); ip > beacon {
		t.Errorf("farm summary %q does not put the public IP before beacons", farm.Summary)
	}
	if want := "Device LT-S silent for 80h0m30s"; r.Alerts[2].Title != want {
		t.Errorf("silent title = %q, want %q", r.Alerts[2].Title, want)
	}
}

func TestOptions(t *testing.T) {
	t.Parallel()
	d := Options{}.WithDefaults()
	want := Options{Window: 24 * time.Hour, MinDevices: 3, MinOwners: 2, CriticalDevices: 6,
		SilentAfter: 72 * time.Hour, MinKVMDevices: 2}
	if !reflect.DeepEqual(d, want) {
		t.Errorf("defaults = %+v, want %+v", d, want)
	}
	if err := d.Validate(); err != nil {
		t.Errorf("defaults do not validate: %v", err)
	}
	if err := (Options{}).Validate(); err == nil {
		t.Error("zero options validate; want errors")
	}
	bad := want
	bad.MinDevices, bad.MinKVMDevices = 1, 1
	bad.OfficeCIDRs = []netip.Prefix{{}}
	bad.OfficeNetworks = []string{""}
	err := bad.Validate()
	for _, s := range []string{"min devices 1", "min KVM devices 1", "office CIDR 0", "office network 0"} {
		if err == nil || !strings.Contains(err.Error(), s) {
			t.Errorf("Validate() = %v, want it to mention %q", err, s)
		}
	}
}

func TestCorrelateEmpty(t *testing.T) {
	t.Parallel()
	r := Correlate(nil, nil, Options{}, now)
	if len(r.Alerts) != 0 || len(r.Recovered) != 0 {
		t.Errorf("empty fleet: %+v", r)
	}
}

// TestCorrelateProperties runs the property check over many random fleets.
func TestCorrelateProperties(t *testing.T) {
	t.Parallel()
	for seed := range uint64(400) {
		checkProperties(t, seed)
	}
}

// FuzzCorrelate explores random fleets by seed.
func FuzzCorrelate(f *testing.F) {
	for _, s := range []uint64{0, 1, 7, 42, 1 << 40} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, seed uint64) { checkProperties(t, seed) })
}

// Identifier pools of the random fleets. ipKey is the reference
// canonical form of each public IP: "" when it must never join.
var (
	ipPool = []string{"203.0.113.1", "203.0.113.2", "::ffff:203.0.113.2", "2001:db8::1",
		"10.0.0.1", "198.51.100.5", "", "bogus"}
	ipKey = map[string]string{"203.0.113.1": "203.0.113.1", "203.0.113.2": "203.0.113.2",
		"::ffff:203.0.113.2": "203.0.113.2", "2001:db8::1": "2001:db8::1"}
	propOffice = Options{
		OfficeCIDRs:    []netip.Prefix{netip.MustParsePrefix("198.51.100.0/24")},
		OfficeNetworks: []string{"g0", "b0"},
	}
)

// randomFleet builds a small fleet whose identifiers collide often.
func randomFleet(rng *rand.Rand) ([]store.Device, []store.Alert, Options) {
	n := 3 + rng.IntN(40)
	pick := func(prefix string, k int) string {
		if rng.IntN(3) == 0 {
			return ""
		}
		return fmt.Sprintf("%s%d", prefix, rng.IntN(k))
	}
	owners := []string{"", "ann", "bob", "cyd", "dan"}
	devices := make([]store.Device, n)
	for i := range devices {
		d := store.Device{
			ID:          fmt.Sprintf("d%02d", i),
			Hostname:    fmt.Sprintf("LT-%02d", i),
			Owner:       owners[rng.IntN(len(owners))],
			LastSeen:    now.Add(-time.Duration(rng.IntN(30)) * time.Hour),
			LastKind:    []string{"scan", "heartbeat", "stopping"}[rng.IntN(3)],
			Revoked:     rng.IntN(10) == 0,
			MaxSeverity: rng.IntN(5) - 1,
			PublicIP:    ipPool[rng.IntN(len(ipPool))],
		}
		if rng.IntN(8) == 0 {
			d.LastSeen = time.Time{}
		}
		if rng.IntN(3) == 0 {
			d.PublicIP = fmt.Sprintf("192.0.2.%d", i) // unique
		}
		d.Network.GatewayHash = pick("g", 2*n)
		d.Network.SSIDHash = pick("s", 2)
		for range rng.IntN(3) {
			d.Network.BSSIDHashes = append(d.Network.BSSIDHashes, pick("b", 3*n))
		}
		for range rng.IntN(3) {
			d.Network.Peers = append(d.Network.Peers, store.PeerHeard{
				DeviceID: fmt.Sprintf("d%02d", rng.IntN(n+3)),
				At:       now.Add(-time.Duration(rng.IntN(30)) * time.Hour),
			})
		}
		for range rng.IntN(2) {
			d.Network.KVMSerials = append(d.Network.KVMSerials, pick("k", 4))
		}
		devices[i] = d
	}
	var open []store.Alert
	for a := range rng.IntN(5) {
		al := openAlert(int64(a+1), KindFarm, fmt.Sprintf("farm:open%d", a))
		for range 1 + rng.IntN(5) {
			al.Members = append(al.Members, fmt.Sprintf("d%02d", rng.IntN(n)))
		}
		open = append(open, al)
	}
	opts := propOffice
	opts.MinDevices = 2 + rng.IntN(3)
	opts.MinOwners = 1 + rng.IntN(3)
	return devices, open, opts
}

// checkProperties: every farm passes the thresholds, has only fresh,
// unrevoked members, lists only identifiers its members really share,
// is connected through them, and equals a component of a naive O(n²)
// reference graph; keys are unique; KVM and silent alerts hold.
func checkProperties(t *testing.T, seed uint64) {
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	devices, open, opts := randomFleet(rng)
	devicesBefore, openBefore := cloneDevices(devices), cloneAlerts(open)
	r := Correlate(devices, open, opts, now)
	if !reflect.DeepEqual(devices, devicesBefore) || !reflect.DeepEqual(open, openBefore) {
		t.Errorf("seed %d: Correlate modified its arguments", seed)
	}
	o := opts.WithDefaults()
	cutoff := now.Add(-o.Window)
	byID := map[string]store.Device{}
	for _, d := range devices {
		byID[d.ID] = d
	}
	node := func(id string) bool {
		d, ok := byID[id]
		return ok && !d.Revoked && !d.LastSeen.IsZero() && !d.LastSeen.Before(cutoff)
	}
	office := func(h string) bool { return slices.Contains(o.OfficeNetworks, h) }

	// Reference: pairwise edges, then components by flood fill.
	edge := func(a, b store.Device) bool {
		if k := ipKey[a.PublicIP]; k != "" && k == ipKey[b.PublicIP] {
			return true
		}
		if g := a.Network.GatewayHash; g != "" && !office(g) && g == b.Network.GatewayHash {
			return true
		}
		for _, x := range a.Network.BSSIDHashes {
			if x != "" && !office(x) && slices.Contains(b.Network.BSSIDHashes, x) {
				return true
			}
		}
		heardBy := func(x, y store.Device) bool {
			for _, p := range x.Network.Peers {
				if p.DeviceID == y.ID && !p.At.Before(cutoff) {
					return true
				}
			}
			return false
		}
		return heardBy(a, b) || heardBy(b, a)
	}
	var nodes []store.Device
	for _, d := range devices {
		if node(d.ID) {
			nodes = append(nodes, d)
		}
	}
	wantFarms := map[string]bool{}
	done := make([]bool, len(nodes))
	for i := range nodes {
		if done[i] {
			continue
		}
		comp, queue := []int{}, []int{i}
		done[i] = true
		for len(queue) > 0 {
			x := queue[0]
			queue = queue[1:]
			comp = append(comp, x)
			for y := range nodes {
				if !done[y] && edge(nodes[x], nodes[y]) {
					done[y] = true
					queue = append(queue, y)
				}
			}
		}
		var ids []string
		owners := map[string]bool{}
		for k, x := range comp {
			ids = append(ids, nodes[x].ID)
			if ow := nodes[x].Owner; ow != "" {
				owners[ow] = true
			} else {
				owners[fmt.Sprint("unknown", k)] = true
			}
		}
		if len(ids) >= o.MinDevices && len(owners) >= o.MinOwners {
			slices.Sort(ids)
			wantFarms[strings.Join(ids, ",")] = true
		}
	}

	gotFarms := map[string]bool{}
	keys := map[string]bool{}
	for _, a := range r.Alerts {
		if keys[a.Key] {
			t.Errorf("seed %d: duplicate key %s", seed, a.Key)
		}
		keys[a.Key] = true
		if !slices.IsSorted(a.Members) || len(slices.Compact(slices.Clone(a.Members))) != len(a.Members) {
			t.Errorf("seed %d: %s members not sorted and unique: %v", seed, a.Key, a.Members)
		}
		switch a.Kind {
		case KindFarm:
			gotFarms[strings.Join(a.Members, ",")] = true
			checkFarm(t, seed, a, byID, node, office, o, open)
		case KindKVMShared:
			serial := strings.TrimPrefix(a.Key, "kvm_shared:")
			if len(a.Members) < o.MinKVMDevices {
				t.Errorf("seed %d: %s has %d members", seed, a.Key, len(a.Members))
			}
			for _, m := range a.Members {
				if !node(m) || !slices.Contains(byID[m].Network.KVMSerials, serial) {
					t.Errorf("seed %d: %s member %s does not qualify", seed, a.Key, m)
				}
			}
		case KindSilent:
			d := byID[a.Members[0]]
			if d.Revoked || d.LastSeen.IsZero() || now.Sub(d.LastSeen) <= o.SilentAfter || d.LastKind == "stopping" {
				t.Errorf("seed %d: %s is not silent: %+v", seed, a.Key, d)
			}
		default:
			t.Errorf("seed %d: unknown kind %q", seed, a.Kind)
		}
	}
	if !reflect.DeepEqual(gotFarms, wantFarms) {
		t.Errorf("seed %d: farms\n got %v\nwant %v", seed, gotFarms, wantFarms)
	}
}

func checkFarm(t *testing.T, seed uint64, a store.Alert, byID map[string]store.Device,
	node func(string) bool, office func(string) bool, o Options, open []store.Alert) {
	t.Helper()
	ev := farmEvidence(t, a)
	if len(a.Members) < o.MinDevices || ev.Owners < o.MinOwners || len(ev.Members) != len(a.Members) {
		t.Errorf("seed %d: %s below thresholds: %d members, %d owners", seed, a.Key, len(a.Members), ev.Owners)
	}
	wantSev := severityHigh
	for _, m := range a.Members {
		if !node(m) {
			t.Errorf("seed %d: %s member %s is revoked, stale or unknown", seed, a.Key, m)
		}
		if byID[m].MaxSeverity >= severityHigh {
			wantSev = severityCritical
		}
	}
	if len(a.Members) >= o.CriticalDevices {
		wantSev = severityCritical
	}
	if a.Severity != wantSev {
		t.Errorf("seed %d: %s severity %d, want %d", seed, a.Key, a.Severity, wantSev)
	}
	// Every listed identifier is really carried by its devices; together
	// they connect all members.
	parent := map[string]string{}
	var find func(string) string
	find = func(x string) string {
		if p, ok := parent[x]; ok && p != x {
			return find(p)
		}
		return x
	}
	for _, s := range ev.Shared {
		if len(s.Devices) < 2 {
			t.Errorf("seed %d: %s shared %s:%s has %d devices", seed, a.Key, s.Kind, s.Value, len(s.Devices))
		}
		for _, id := range s.Devices {
			d := byID[id]
			if !slices.Contains(a.Members, id) {
				t.Errorf("seed %d: %s shared %s:%s names non-member %s", seed, a.Key, s.Kind, s.Value, id)
			}
			var ok bool
			switch s.Kind {
			case SharedPublicIP:
				ok = ipKey[d.PublicIP] == s.Value
			case SharedGateway:
				ok = !office(s.Value) && d.Network.GatewayHash == s.Value
			case SharedBSSID:
				ok = !office(s.Value) && slices.Contains(d.Network.BSSIDHashes, s.Value)
			case SharedBeacon:
				ok = id == s.Value || slices.ContainsFunc(d.Network.Peers, func(p store.PeerHeard) bool {
					return p.DeviceID == s.Value && !p.At.Before(now.Add(-o.Window))
				})
			}
			if !ok {
				t.Errorf("seed %d: %s shared %s:%s not carried by %s", seed, a.Key, s.Kind, s.Value, id)
			}
			parent[find(id)] = find(s.Devices[0])
		}
	}
	for _, m := range a.Members {
		if find(m) != find(a.Members[0]) {
			t.Errorf("seed %d: %s member %s is not connected through the shared identifiers", seed, a.Key, m)
		}
	}
	// A reused key belongs to an open alert overlapping the farm, and
	// merged alerts overlap it too.
	overlaps := func(al store.Alert) bool {
		return slices.ContainsFunc(al.Members, func(m string) bool { return slices.Contains(a.Members, m) })
	}
	for _, al := range open {
		if al.Key == a.Key && !overlaps(al) {
			t.Errorf("seed %d: %s reuses the key of alert %d that does not overlap it", seed, a.Key, al.ID)
		}
		if slices.Contains(ev.MergedAlerts, al.ID) && (!overlaps(al) || al.Key == a.Key) {
			t.Errorf("seed %d: %s lists alert %d as merged", seed, a.Key, al.ID)
		}
	}
}

func cloneDevices(ds []store.Device) []store.Device {
	out := slices.Clone(ds)
	for i := range out {
		n := &out[i].Network
		n.BSSIDHashes = slices.Clone(n.BSSIDHashes)
		n.Peers = slices.Clone(n.Peers)
		n.KVMSerials = slices.Clone(n.KVMSerials)
	}
	return out
}

func cloneAlerts(as []store.Alert) []store.Alert {
	out := slices.Clone(as)
	for i := range out {
		out[i].Members = slices.Clone(out[i].Members)
	}
	return out
}
