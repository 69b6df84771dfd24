package netinfo

// The macOS syscall shim: the routing table through golang.org/x/net/route
// (sysctl NET_RT_DUMP and NET_RT_FLAGS, no exec, no root) and interfaces
// through net.Interfaces. It copies what it reads into records;
// darwin_routes.go interprets them.

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"syscall"

	"golang.org/x/net/route"

	"github.com/farmwatch/farmwatch/detectors"
)

func init() {
	darwinSystem = platform{
		interfaces: darwinInterfaces,
		gateway:    darwinGateway,
		neighbours: darwinNeighbours,
		wifi: func(context.Context, *detectors.Host) (WiFiStatus, error) {
			return darwinWiFi(), nil
		},
	}
}

func darwinInterfaces(ctx context.Context, h *detectors.Host) ([]Interface, error) {
	ifs, err := net.Interfaces()
	if err != nil {
		return nil, fmt.Errorf("list interfaces: %w", err)
	}
	std := make([]stdInterface, 0, len(ifs))
	for _, ifi := range ifs {
		s := stdInterface{Name: ifi.Name, Index: ifi.Index, MAC: ifi.HardwareAddr, Flags: ifi.Flags}
		addrs, err := ifi.Addrs()
		if err != nil {
			return nil, fmt.Errorf("addresses of %s: %w", ifi.Name, err)
		}
		for _, a := range addrs {
			n, ok := a.(*net.IPNet)
			if !ok {
				continue
			}
			ip, ok := netip.AddrFromSlice(n.IP)
			if !ok {
				continue
			}
			ones, _ := n.Mask.Size()
			s.Addrs = append(s.Addrs, netip.PrefixFrom(ip.Unmap(), ones))
		}
		std = append(std, s)
	}
	return interfacesFromStd(std), nil
}

func indexNames() (map[int]string, error) {
	ifs, err := net.Interfaces()
	if err != nil {
		return nil, fmt.Errorf("list interfaces: %w", err)
	}
	m := make(map[int]string, len(ifs))
	for _, ifi := range ifs {
		m[ifi.Index] = ifi.Name
	}
	return m, nil
}

// fetchRoutes reads one routing table dump and copies its messages.
func fetchRoutes(af int, typ route.RIBType, arg int) ([]routeRecord, error) {
	rib, err := route.FetchRIB(af, typ, arg)
	if err != nil {
		return nil, fmt.Errorf("fetch routing table (af %d, type %d): %w", af, typ, err)
	}
	msgs, err := route.ParseRIB(typ, rib)
	if err != nil {
		return nil, fmt.Errorf("parse routing table (af %d, type %d): %w", af, typ, err)
	}
	out := make([]routeRecord, 0, len(msgs))
	for _, m := range msgs {
		rm, ok := m.(*route.RouteMessage)
		if !ok || rm.Err != nil {
			continue
		}
		r := routeRecord{Flags: rm.Flags, Index: rm.Index}
		for i, dst := range []*routeAddr{&r.Dst, &r.Gateway, &r.Netmask} {
			if i < len(rm.Addrs) {
				*dst = copyRouteAddr(rm.Addrs[i])
			}
		}
		out = append(out, r)
	}
	return out, nil
}

func copyRouteAddr(a route.Addr) routeAddr {
	switch a := a.(type) {
	case *route.Inet4Addr:
		return routeAddr{IP: netip.AddrFrom4(a.IP)}
	case *route.Inet6Addr:
		return routeAddr{IP: netip.AddrFrom16(a.IP)}
	case *route.LinkAddr:
		return routeAddr{Link: &linkAddr{Index: a.Index, Name: a.Name, Addr: append([]byte(nil), a.Addr...)}}
	default:
		return routeAddr{}
	}
}

func darwinGateway(ctx context.Context, h *detectors.Host) (Gateway, error) {
	rs, err := fetchRoutes(syscall.AF_INET, route.RIBTypeRoute, 0)
	if err != nil {
		return Gateway{}, err
	}
	names, err := indexNames()
	if err != nil {
		return Gateway{}, err
	}
	return gatewayFromRoutes(rs, names)
}

func darwinNeighbours(ctx context.Context, h *detectors.Host) ([]Neighbour, error) {
	names, err := indexNames()
	if err != nil {
		return nil, err
	}
	var out []Neighbour
	for _, af := range []int{syscall.AF_INET, syscall.AF_INET6} {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		rs, err := fetchRoutes(af, syscall.NET_RT_FLAGS, syscall.RTF_LLINFO)
		if err != nil {
			return nil, err
		}
		out = append(out, neighboursFromRoutes(rs, names)...)
	}
	return out, nil
}
