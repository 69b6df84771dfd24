package sink

import (
	"testing"
	"time"
)

// The format cost of one alert: a 12-member alert with 1 KB of
// evidence (bigEvent), as sent to each kind of sink.

func BenchmarkFormatCEF(b *testing.B) {
	s := &syslogSink{appName: "farmwatch", hostname: "collector-1", procID: "4242", facility: 20}
	ev := bigEvent()
	b.ReportAllocs()
	var n int
	for b.Loop() {
		msg, err := s.message(ev, sendTime)
		if err != nil {
			b.Fatal(err)
		}
		n = len(msg)
	}
	b.ReportMetric(float64(n), "bytes/msg")
}

func BenchmarkFormatJSON(b *testing.B) {
	ev := bigEvent()
	b.ReportAllocs()
	var n int
	for b.Loop() {
		body, err := encodeJSON(ev)
		if err != nil {
			b.Fatal(err)
		}
		n = len(body)
	}
	b.ReportMetric(float64(n), "bytes/msg")
}

func BenchmarkFormatOCSF(b *testing.B) {
	ev := bigEvent()
	now := time.Date(2026, 11, 20, 12, 0, 0, 0, time.UTC)
	b.ReportAllocs()
	var n int
	for b.Loop() {
		line, err := encodeOCSF(ev, now)
		if err != nil {
			b.Fatal(err)
		}
		n = len(line)
	}
	b.ReportMetric(float64(n), "bytes/msg")
}
