package colocation

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"golang.org/x/net/dns/dnsmessage"
)

// mDNS browsing (RFC 6762, DNS-SD RFC 6763). Queries go to 224.0.0.251:5353
// from an ephemeral port, which makes them "legacy unicast" queries:
// responders answer straight to the asking socket (RFC 6762 §6.7), so the
// agent never binds port 5353 next to the OS's own responder.

// mdnsServiceTypes are browsed with PTR queries: the DNS-SD meta-query and
// the web and SSH services KVM appliances offer.
var mdnsServiceTypes = []string{"_services._dns-sd._udp.local.", "_http._tcp.local.", "_https._tcp.local.", "_ssh._tcp.local."}

// mdnsQuestions are the questions of one browse: PTR for the service
// types, A for the default host name of every KVM product.
func (c *catalogue) mdnsQuestions() []dnsmessage.Question {
	var qs []dnsmessage.Question
	for _, s := range mdnsServiceTypes {
		qs = append(qs, dnsmessage.Question{Name: dnsmessage.MustNewName(s), Type: dnsmessage.TypePTR, Class: dnsmessage.ClassINET})
	}
	for _, p := range c.products {
		qs = append(qs, dnsmessage.Question{Name: dnsmessage.MustNewName(p.host + ".local."), Type: dnsmessage.TypeA, Class: dnsmessage.ClassINET})
	}
	return qs
}

// buildMDNSQuery builds one query datagram asking q, with id (legacy
// unicast responders echo it).
func buildMDNSQuery(id uint16, q dnsmessage.Question) ([]byte, error) {
	b := dnsmessage.NewBuilder(make([]byte, 0, 64), dnsmessage.Header{ID: id})
	b.EnableCompression()
	if err := b.StartQuestions(); err != nil {
		return nil, fmt.Errorf("mdns query %s: %w", q.Name, err)
	}
	if err := b.Question(q); err != nil {
		return nil, fmt.Errorf("mdns query %s: %w", q.Name, err)
	}
	out, err := b.Finish()
	if err != nil {
		return nil, fmt.Errorf("mdns query %s: %w", q.Name, err)
	}
	return out, nil
}

// mdnsRecord is one resource record of an mDNS response.
type mdnsRecord struct {
	Name string
	Type dnsmessage.Type
	// Addr for A and AAAA; Target for PTR and SRV; Port for SRV.
	Addr   netip.Addr
	Target string
	Port   uint16
}

// errNotResponse says a datagram is a query, not an answer.
var errNotResponse = errors.New("mdns: not a response")

// maxMDNSRecords bounds the records taken from one datagram.
const maxMDNSRecords = 64

// parseMDNSResponse returns the A, AAAA, PTR and SRV records of the
// answer and additional sections of a response datagram. Names are
// lower-cased; other record types are skipped.
func parseMDNSResponse(data []byte) ([]mdnsRecord, error) {
	var p dnsmessage.Parser
	h, err := p.Start(data)
	if err != nil {
		return nil, fmt.Errorf("mdns: %w", err)
	}
	if !h.Response {
		return nil, errNotResponse
	}
	if err := p.SkipAllQuestions(); err != nil {
		return nil, fmt.Errorf("mdns: questions: %w", err)
	}
	var out []mdnsRecord
	for section := range 3 {
		for len(out) < maxMDNSRecords {
			var rh dnsmessage.ResourceHeader
			switch section {
			case 0:
				rh, err = p.AnswerHeader()
			case 1:
				err = p.SkipAllAuthorities()
				if err == nil {
					err = dnsmessage.ErrSectionDone
				}
			case 2:
				rh, err = p.AdditionalHeader()
			}
			if errors.Is(err, dnsmessage.ErrSectionDone) {
				break
			}
			if err != nil {
				return out, fmt.Errorf("mdns: records: %w", err)
			}
			rec := mdnsRecord{Name: strings.ToLower(rh.Name.String()), Type: rh.Type}
			switch rh.Type {
			case dnsmessage.TypeA:
				r, err := p.AResource()
				if err != nil {
					return out, fmt.Errorf("mdns: A %s: %w", rec.Name, err)
				}
				rec.Addr = netip.AddrFrom4(r.A)
			case dnsmessage.TypeAAAA:
				r, err := p.AAAAResource()
				if err != nil {
					return out, fmt.Errorf("mdns: AAAA %s: %w", rec.Name, err)
				}
				rec.Addr = netip.AddrFrom16(r.AAAA)
			case dnsmessage.TypePTR:
				r, err := p.PTRResource()
				if err != nil {
					return out, fmt.Errorf("mdns: PTR %s: %w", rec.Name, err)
				}
				rec.Target = strings.ToLower(r.PTR.String())
			case dnsmessage.TypeSRV:
				r, err := p.SRVResource()
				if err != nil {
					return out, fmt.Errorf("mdns: SRV %s: %w", rec.Name, err)
				}
				rec.Target, rec.Port = strings.ToLower(r.Target.String()), r.Port
			default:
				if err := skipResource(&p, section); err != nil {
					return out, fmt.Errorf("mdns: %s %s: %w", rh.Type, rec.Name, err)
				}
				continue
			}
			out = append(out, rec)
		}
	}
	return out, nil
}

func skipResource(p *dnsmessage.Parser, section int) error {
	if section == 0 {
		return p.SkipAnswer()
	}
	return p.SkipAdditional()
}

// mdnsPacket is one response datagram heard during a browse.
type mdnsPacket struct {
	From netip.Addr
	Data []byte
}

// collectMDNS turns the datagrams of a browse into hosts and services,
// marking those whose names are KVM appliances'.
func (c *catalogue) collectMDNS(packets []mdnsPacket, r *MDNSResult) {
	hosts := map[string]*MDNSHost{}
	services := map[string]*MDNSService{}
	host := func(name string, from netip.Addr) *MDNSHost {
		h := hosts[name]
		if h == nil {
			h = &MDNSHost{Name: name, From: from.String()}
			if p, ok := c.hostProduct(name); ok {
				h.KVM = p.vendor
			}
			hosts[name] = h
		}
		return h
	}
	service := func(instance, typ string, from netip.Addr) *MDNSService {
		s := services[instance]
		if s == nil {
			s = &MDNSService{Instance: instance, Type: typ, From: from.String()}
			if p, ok := c.instanceProduct(instance); ok {
				s.KVM = p.vendor
			}
			services[instance] = s
		}
		if s.Type == "" {
			s.Type = typ
		}
		return s
	}
	for _, pk := range packets {
		recs, err := parseMDNSResponse(pk.Data)
		if err != nil && len(recs) == 0 {
			if !errors.Is(err, errNotResponse) {
				r.Unparsed++
			}
			continue
		}
		r.Responses++
		for _, rec := range recs {
			switch rec.Type {
			case dnsmessage.TypeA, dnsmessage.TypeAAAA:
				h := host(rec.Name, pk.From)
				if a := rec.Addr.String(); !slices.Contains(h.Addrs, a) {
					h.Addrs = append(h.Addrs, a)
				}
			case dnsmessage.TypePTR:
				if rec.Name == "_services._dns-sd._udp.local." {
					continue // a service type, not an instance
				}
				service(rec.Target, rec.Name, pk.From)
			case dnsmessage.TypeSRV:
				s := service(rec.Name, serviceType(rec.Name), pk.From)
				s.Host, s.Port = rec.Target, int(rec.Port)
			}
		}
	}
	// A service whose instance names a KVM makes its host one too.
	for _, s := range services {
		if s.KVM == "" && s.Host != "" {
			if h := hosts[s.Host]; h != nil && h.KVM != "" {
				s.KVM = h.KVM
			}
		}
		if s.KVM != "" && s.Host != "" {
			if h := hosts[s.Host]; h != nil && h.KVM == "" {
				h.KVM = s.KVM
			}
		}
	}
	r.Hosts = r.Hosts[:0]
	for _, h := range hosts {
		slices.Sort(h.Addrs)
		r.Hosts = append(r.Hosts, *h)
	}
	slices.SortFunc(r.Hosts, func(a, b MDNSHost) int { return strings.Compare(a.Name, b.Name) })
	r.Services = r.Services[:0]
	for _, s := range services {
		r.Services = append(r.Services, *s)
	}
	slices.SortFunc(r.Services, func(a, b MDNSService) int { return strings.Compare(a.Instance, b.Instance) })
}

// serviceType is the "_type._proto.domain." part of an instance name
// ("PiKVM._https._tcp.local." → "_https._tcp.local."); "" if it has none.
func serviceType(instance string) string {
	proto := max(strings.LastIndex(instance, "._tcp."), strings.LastIndex(instance, "._udp."))
	if proto < 0 {
		return ""
	}
	typ := strings.LastIndex(instance[:proto], "._")
	if typ < 0 {
		return ""
	}
	return instance[typ+1:]
}
