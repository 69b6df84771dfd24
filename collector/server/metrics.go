package server

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// Metrics are the collector's Prometheus metrics (served at /metrics on
// the API port).
type Metrics struct {
	Registry     *prometheus.Registry
	Reports      *prometheus.CounterVec
	Rejections   *prometheus.CounterVec
	IngestTime   prometheus.Histogram
	Enrollments  *prometheus.CounterVec
	Alerts       *prometheus.CounterVec
	SinkResults  *prometheus.CounterVec
	SinkPending  *prometheus.GaugeVec
	Devices      prometheus.Gauge
	CorrelateRun prometheus.Histogram
	// GeoIPLoaded is 1 per database kind (city, asn) loaded, else 0.
	GeoIPLoaded *prometheus.GaugeVec
	GeoIPBuild  *prometheus.GaugeVec
	GeoReloads  *prometheus.CounterVec
	GeoFindings *prometheus.CounterVec
}

// NewMetrics registers the collector's metrics in a new registry, with
// the Go and process collectors.
func NewMetrics() *Metrics {
	m := &Metrics{
		Registry: prometheus.NewRegistry(),
		Reports: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "farmwatch_ingest_reports_total", Help: "Reports received, by result (stored, duplicate, rejected).",
		}, []string{"result"}),
		Rejections: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "farmwatch_ingest_rejections_total", Help: "Requests and envelopes refused at ingest, by reason.",
		}, []string{"reason"}),
		IngestTime: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "farmwatch_ingest_batch_seconds", Help: "Time to verify and store one batch of reports.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14),
		}),
		Enrollments: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "farmwatch_enrollments_total", Help: "Enrollments and renewals, by kind and result.",
		}, []string{"kind", "result"}),
		Alerts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "farmwatch_alerts_total", Help: "Alerts created or updated, by kind, severity and change.",
		}, []string{"kind", "severity", "change"}),
		SinkResults: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "farmwatch_sink_deliveries_total", Help: "Alert deliveries to sinks, by sink and result (ok, failed).",
		}, []string{"sink", "result"}),
		SinkPending: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "farmwatch_sink_pending", Help: "Alert deliveries waiting per sink (queue lag).",
		}, []string{"sink"}),
		Devices: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "farmwatch_devices", Help: "Enrolled, non-revoked devices at the last correlation run.",
		}),
		CorrelateRun: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "farmwatch_correlation_seconds", Help: "Duration of one fleet correlation run.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 14),
		}),
		GeoIPLoaded: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "farmwatch_geoip_database_loaded", Help: "1 when the GeoIP database of the kind (city, asn) is loaded; 0 when not configured (the rules needing it are off).",
		}, []string{"kind"}),
		GeoIPBuild: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "farmwatch_geoip_database_build_timestamp_seconds", Help: "Build time of the loaded GeoIP database, by kind (alert when it grows old).",
		}, []string{"kind"}),
		GeoReloads: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "farmwatch_geoip_reloads_total", Help: "GeoIP database reloads after a file change, by result (ok, failed).",
		}, []string{"result"}),
		GeoFindings: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "farmwatch_geo_findings_total", Help: "Geo findings made at ingest, by rule.",
		}, []string{"rule"}),
	}
	m.Registry.MustRegister(m.Reports, m.Rejections, m.IngestTime, m.Enrollments, m.Alerts,
		m.SinkResults, m.SinkPending, m.Devices, m.CorrelateRun, m.GeoIPLoaded, m.GeoIPBuild, m.GeoReloads, m.GeoFindings,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// reject counts one refusal.
func (m *Metrics) reject(reason string) { m.Rejections.WithLabelValues(reason).Inc() }
