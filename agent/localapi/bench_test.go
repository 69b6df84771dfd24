package localapi

import (
	"context"
	"testing"

	"github.com/farmwatch/farmwatch/detectors"
)

// BenchmarkDescribe renders a status with a few findings.
func BenchmarkDescribe(b *testing.B) {
	f := sampleFacts(finding(detectors.SeverityCritical, "kvm", "PiKVM"), finding(detectors.SeverityMedium, "remoteaccess", "RustDesk"), finding(detectors.SeverityInfo, "remoteaccess", "TeamViewer"))
	b.ReportAllocs()
	for b.Loop() {
		Describe(f, fixedNow)
	}
}

// BenchmarkStatusRoundTrip is one `farmwatch status` call: connect to the
// socket, GET /v1/status, decode (the tray's poll).
func BenchmarkStatusRoundTrip(b *testing.B) {
	if underWine() {
		b.Skip("pipe I/O does not complete under Wine")
	}
	ep := testEndpoint(b)
	startServer(b, &fakeSource{facts: sampleFacts(finding(detectors.SeverityHigh, "kvm", "PiKVM"))}, ep, nil)
	c := NewClient(ep)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.Status(context.Background()); err != nil {
			b.Fatal(err)
		}
	}
}
