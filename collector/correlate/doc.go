// Package correlate is the collector's fleet-wide judgement: from every
// device's last known state it derives alert candidates that no single
// laptop can see — a laptop farm, one KVM on several laptops, an agent
// gone quiet. The caller (the collector's periodic job) loads the devices
// and the open alerts, calls Correlate, upserts Result.Alerts by Key and
// resolves Result.Recovered.
//
// The package is pure: no I/O, no clock (now is an argument), no store
// calls, no logging. It must stay that way so a pass over 100,000
// devices is one function call that tests drive with fixed times.
//
// # Farm (kind "farm", high; critical at Options.CriticalDevices devices or
// when a member has a high finding)
//
// The nodes are the devices that are not revoked and were last seen within
// Options.Window (default 24h; inclusive: a device last seen exactly at
// now-Window counts, one nanosecond earlier does not). Two nodes are
// joined when they
//
//   - report the same public IP (IPv4-mapped addresses count as IPv4; a
//     private, loopback, link-local or unparsable "public" IP never
//     joins, since it is the collector's own proxy or LAN rather than the
//     device's egress; nor does an IP inside Options.OfficeCIDRs),
//   - report the same default-gateway hash,
//   - share any Wi-Fi BSSID hash, or
//   - one heard the other's LAN beacon within the window (same inclusive
//     boundary on PeerHeard.At); beacons are directional on the wire and
//     joined as undirected edges; a beacon of a device that is not a node
//     is ignored.
//
// Hashes listed in Options.OfficeNetworks never join. An SSID hash alone
// never joins: SSIDs are chosen by people and repeat across homes
// ("eero", "NETGEAR42", "Home", ISP defaults), so equal SSIDs say nothing
// about sharing a room, while a gateway MAC or a BSSID names one piece of
// hardware and a public IP one connection.
//
// Connected components (union-find with union by size and path halving,
// near-linear in devices plus identifiers) with at least
// Options.MinDevices members and Options.MinOwners distinct owners are
// farms; each device without an owner counts as one more unknown owner.
// Both thresholds are inclusive. The evidence (FarmEvidence) lists the
// members, every identifier carried by two or more of them (exactly the
// edges that joined them), the owner count, the window, and why the farm
// is critical.
//
// Key stability: an alert must follow a farm as devices join or leave, not
// be duplicated. A farm takes the key of the open farm alert whose members
// overlap it most (ties: the lowest alert id), each open alert going to
// one farm at most (pairs are matched greedily by overlap, so a split farm
// keeps the key on its larger part). Other open farm alerts that overlap
// the farm and went to no farm are named in merged_alerts; they stay open
// for the caller to resolve. A farm without an overlapping open alert gets
// "farm:" + its smallest "kind:value" identifier (e.g.
// "farm:gateway:3fa9…"); identifiers belong to one component only, so
// these keys are unique within a pass (a clash with a reused key moves to
// the next identifier).
//
// # Shared KVM (kind "kvm_shared", high)
//
// The same KVM/EDID serial hash (Network.KVMSerials) on at least
// Options.MinKVMDevices devices that are not revoked and were seen within
// the window. Key "kvm_shared:<hash>".
//
// # Silent device (kind "silent", medium)
//
// A device that is not revoked, has reported at least once, was last seen
// more than Options.SilentAfter ago (default 72h; exclusive: exactly
// SilentAfter is not silent yet) and whose last report was not "stopping"
// (a deliberate service stop). Key "silent:<device id>". Open silent alerts
// whose device is enrolled, not revoked and no longer silent are returned
// in Result.Recovered.
//
// Alerts come out sorted by key, with sorted members, so a pass is
// deterministic.
package correlate
