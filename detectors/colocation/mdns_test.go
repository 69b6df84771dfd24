package colocation

import (
	"net/netip"
	"path/filepath"
	"testing"

	"golang.org/x/net/dns/dnsmessage"
)

func TestMDNSQueries(t *testing.T) {
	t.Parallel()
	c := newCatalogue(&Policy{KVMNames: []string{"office-kvm"}})
	qs := c.mdnsQuestions()
	if len(qs) != len(mdnsServiceTypes)+len(kvmProducts)+1 {
		t.Fatalf("%d questions", len(qs))
	}
	for i, q := range qs {
		b, err := buildMDNSQuery(uint16(i+1), q)
		if err != nil {
			t.Fatal(err)
		}
		var m dnsmessage.Message
		if err := m.Unpack(b); err != nil || m.Response || len(m.Questions) != 1 || m.Questions[0] != q || m.ID != uint16(i+1) {
			t.Errorf("query %d: %+v %v", i, m, err)
		}
	}
	if qs[len(qs)-1].Name.String() != "office-kvm.local." {
		t.Errorf("policy name not asked: %s", qs[len(qs)-1].Name)
	}
}

func TestParseMDNSResponse(t *testing.T) {
	t.Parallel()
	packets := readPackets(t, filepath.Join("testdata", "linux-farm_pikvm_jetkvm"))
	recs, err := parseMDNSResponse(packets[1].Data)
	if err != nil {
		t.Fatal(err)
	}
	var ptr, srv, a bool
	for _, r := range recs {
		switch {
		case r.Type == dnsmessage.TypePTR && r.Name == "_https._tcp.local." && r.Target == "pikvm._https._tcp.local.":
			ptr = true
		case r.Type == dnsmessage.TypeSRV && r.Target == "pikvm.local." && r.Port == 443:
			srv = true
		case r.Type == dnsmessage.TypeA && r.Addr == netip.MustParseAddr("192.168.1.23"):
			a = true
		}
	}
	if !ptr || !srv || !a || len(recs) != 3 {
		t.Errorf("records %+v (TXT skipped)", recs)
	}
	if _, err := parseMDNSResponse(packets[4].Data); err != errNotResponse {
		t.Errorf("a query: %v", err)
	}
	if _, err := parseMDNSResponse([]byte{0, 1, 2}); err == nil {
		t.Error("3 bytes parsed")
	}
	var r MDNSResult
	c := newCatalogue(DefaultPolicy())
	c.collectMDNS(append(packets, mdnsPacket{From: netip.MustParseAddr("192.168.1.9"), Data: []byte{0, 0, 0x84, 0, 0, 0, 0, 1}}), &r)
	if r.Responses != 4 || r.Unparsed != 1 || len(r.Hosts) != 2 || r.Hosts[1].KVM != "PiKVM" || len(r.Services) != 2 {
		t.Errorf("collected %+v", r)
	}
}

func TestServiceType(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"pikvm._https._tcp.local.":          "_https._tcp.local.",
		"hp laserjet mfp._http._tcp.local.": "_http._tcp.local.",
		"weird.local.":                      "",
	} {
		if got := serviceType(in); got != want {
			t.Errorf("%s: %q, want %q", in, got, want)
		}
	}
}

func FuzzParseMDNS(f *testing.F) {
	for _, p := range readPackets(f, filepath.Join("testdata", "linux-farm_pikvm_jetkvm")) {
		f.Add(p.Data)
	}
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		recs, _ := parseMDNSResponse(data)
		if len(recs) > maxMDNSRecords {
			t.Fatalf("%d records", len(recs))
		}
		var r MDNSResult
		newCatalogue(DefaultPolicy()).collectMDNS([]mdnsPacket{{From: netip.MustParseAddr("10.0.0.1"), Data: data}}, &r)
		if r.Responses+r.Unparsed > 1 {
			t.Fatalf("one datagram counted %d times", r.Responses+r.Unparsed)
		}
	})
}
