package api

import (
	"errors"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the Prometheus collectors the API updates. A nil *Metrics
// records nothing.
type Metrics struct {
	// Requests counts answered requests by route pattern ("GET
	// /api/v1/devices/{id}", "unmatched") and status code.
	Requests *prometheus.CounterVec
	// Duration observes request latency by route pattern.
	Duration *prometheus.HistogramVec
	// AuthFailures counts refused requests by reason: missing, malformed,
	// bad_scheme, bad_token, bad_password (also a wrong current password
	// on a password change), rate_limited, password_change_required,
	// forbidden.
	AuthFailures *prometheus.CounterVec
}

// NewMetrics creates the API's collectors and registers them with reg
// (when not nil). Collectors already registered there (a second API on
// the same registry) are shared rather than refused.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		Requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "farmwatch",
			Subsystem: "api",
			Name:      "requests_total",
			Help:      "API requests answered, by route and status code.",
		}, []string{"route", "code"}),
		Duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: "farmwatch",
			Subsystem: "api",
			Name:      "request_duration_seconds",
			Help:      "API request latency, by route.",
			Buckets:   prometheus.DefBuckets,
		}, []string{"route"}),
		AuthFailures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "farmwatch",
			Subsystem: "api",
			Name:      "auth_failures_total",
			Help:      "API requests refused by authentication or authorisation, by reason.",
		}, []string{"reason"}),
	}
	if reg != nil {
		m.Requests = register(reg, m.Requests)
		m.Duration = register(reg, m.Duration)
		m.AuthFailures = register(reg, m.AuthFailures)
	}
	return m
}

// register registers c, or returns the equal collector registered before.
// Any other failure (a different collector under the same name, a
// programming error) leaves c working but unexported, rather than
// panicking outside main.
func register[C prometheus.Collector](reg prometheus.Registerer, c C) C {
	if err := reg.Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if existing, ok := are.ExistingCollector.(C); ok {
				return existing
			}
		}
	}
	return c
}

func (m *Metrics) request(route string, code int, d time.Duration) {
	if m == nil {
		return
	}
	m.Requests.WithLabelValues(route, strconv.Itoa(code)).Inc()
	m.Duration.WithLabelValues(route).Observe(d.Seconds())
}

func (m *Metrics) authFailure(reason string) {
	if m == nil {
		return
	}
	m.AuthFailures.WithLabelValues(reason).Inc()
}
