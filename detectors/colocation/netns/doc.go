// Package netns holds the colocation detector's end-to-end proof in Linux
// network namespaces (build tag netns, run by `make test-netns`): the
// real farmwatch and farmwatch-collector binaries, three agents of one
// fleet on a bridge, a host posing as a KVM appliance and a sender of
// forged, foreign and replayed beacons. It needs root (CAP_NET_ADMIN and
// CAP_SYS_ADMIN for `ip netns`); with CI=true their absence fails the
// test, elsewhere it skips with a message. Only addresses inside the
// namespaces it creates receive traffic.
package netns
