// Package server is the collector process: the agent listener (TLS 1.3,
// client certificates, token enrollment, report ingest, fleet policy),
// the console/API listener (REST API, OpenAPI, Prometheus metrics), and
// the periodic jobs (fleet correlation under a cluster lock, sink
// delivery). Several nodes may run against one PostgreSQL database: all
// state lives in the store, and periodic jobs take TryLock.
package server

import (
	"context"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.uber.org/zap"

	"github.com/farmwatch/farmwatch/collector/api"
	"github.com/farmwatch/farmwatch/collector/correlate"
	"github.com/farmwatch/farmwatch/collector/geo"
	"github.com/farmwatch/farmwatch/collector/pki"
	"github.com/farmwatch/farmwatch/collector/sink"
	"github.com/farmwatch/farmwatch/collector/store"
	"github.com/farmwatch/farmwatch/detectors"
	"github.com/farmwatch/farmwatch/transport"
)

// Server is one collector node.
type Server struct {
	cfg       *Config
	store     store.Store
	log       *zap.Logger
	ca        *pki.CA
	fleetKey  string
	policy    *transport.PolicyDoc
	corrOpts  correlate.Options
	proxies   []netip.Prefix
	metrics   *Metrics
	ingest    *Ingester
	limits    *limiter
	enrollRL  *limiter
	disp      *sink.Dispatcher
	now       func() time.Time
	serverTLS tls.Certificate
	// kick asks the jobs loop for an early correlation pass.
	kick   chan struct{}
	roster rosterIndex
	geo    *geo.DB
}

// New builds a node from its configuration and an open store.
func New(cfg *Config, st store.Store, log *zap.Logger) (*Server, error) {
	ca, err := pki.LoadCA(cfg.Resolve(cfg.TLS.CACert), cfg.Resolve(cfg.TLS.CAKey))
	if err != nil {
		return nil, err
	}
	cert, err := tls.LoadX509KeyPair(cfg.Resolve(cfg.TLS.Cert), cfg.Resolve(cfg.TLS.Key))
	if err != nil {
		return nil, fmt.Errorf("server certificate: %w", err)
	}
	fk, err := os.ReadFile(cfg.Resolve(cfg.FleetKeyFile))
	if err != nil {
		return nil, fmt.Errorf("fleet key: %w", err)
	}
	fleetKey := strings.TrimSpace(string(fk))
	if k, err := base64.StdEncoding.DecodeString(fleetKey); err != nil || len(k) < 16 {
		return nil, fmt.Errorf("fleet key %s: not a base64 key of at least 16 bytes", cfg.FleetKeyFile)
	}
	policy, err := cfg.FleetPolicy()
	if err != nil {
		return nil, err
	}
	corr, err := cfg.CorrelateOptions()
	if err != nil {
		return nil, err
	}
	proxies, err := cfg.trustedProxies()
	if err != nil {
		return nil, err
	}
	min, err := detectors.ParseSeverity(cfg.Alerts.FindingMinSeverity)
	if err != nil {
		return nil, err
	}
	geoOpts, err := cfg.GeoOptions()
	if err != nil {
		return nil, err
	}
	geoMin, err := detectors.ParseSeverity(cfg.GeoIP.AlertMinSeverity)
	if err != nil {
		return nil, err
	}
	geoDB, err := cfg.OpenGeoIP()
	if err != nil {
		return nil, err
	}
	s := &Server{
		cfg: cfg, store: st, log: log, ca: ca, fleetKey: fleetKey, policy: policy,
		corrOpts: corr, proxies: proxies, metrics: NewMetrics(), now: time.Now, serverTLS: cert, kick: make(chan struct{}, 1),
		limits:   newLimiter(cfg.Ingest.RatePerDevice, cfg.Ingest.Burst),
		enrollRL: newLimiter(1, 30), geo: geoDB,
	}
	s.logGeoIP()
	var sinks []sink.Sink
	for _, sc := range cfg.Sinks {
		sk, err := sink.New(sc, log)
		if err != nil {
			return nil, err
		}
		sinks = append(sinks, sk)
	}
	s.disp = &sink.Dispatcher{
		Store: st, Sinks: sinks, Log: log.Named("sinks"), Collector: cfg.Name,
		ConsoleURL: cfg.linkURL(),
		OnResult: func(name string, ok bool, _ time.Duration) {
			res := "ok"
			if !ok {
				res = "failed"
			}
			s.metrics.SinkResults.WithLabelValues(name, res).Inc()
		},
	}
	s.ingest = &Ingester{
		Store: st, Metrics: s.metrics, Log: log.Named("ingest"), FindingMin: min,
		Sinks: cfg.Sinks, Notify: s.disp.Notify, Now: func() time.Time { return s.now() },
		NetworkChanged: func() {
			select {
			case s.kick <- struct{}{}:
			default:
			}
		},
		Geo: &geoJudge{db: geoDB, opts: geoOpts, alertMin: geoMin, home: s.rosterHome},
	}
	return s, nil
}

// logGeoIP says which GeoIP databases are in service (and which rules are
// off for want of one) and sets their metrics.
func (s *Server) logGeoIP() {
	for _, st := range s.geo.Status() {
		loaded := 0.0
		if st.Loaded {
			loaded = 1
			s.metrics.GeoIPBuild.WithLabelValues(st.Kind).Set(float64(st.BuildTime.Unix()))
			s.log.Info("geoip database loaded", zap.String("kind", st.Kind), zap.String("path", st.Path),
				zap.String("type", st.DatabaseType), zap.Time("build_time", st.BuildTime))
		} else {
			off := "geo.far_from_home, geo.other_country, geo.new_country, geo.timezone_mismatch and the IP part of geo.impossible_location"
			if st.Kind == geo.KindASN {
				off = "geo.hosting_asn"
			}
			s.log.Warn("geoip database not configured: its rules are off", zap.String("kind", st.Kind),
				zap.String("key", "geoip."+st.Kind+"_db"), zap.String("rules_off", off))
		}
		s.metrics.GeoIPLoaded.WithLabelValues(st.Kind).Set(loaded)
	}
}

// watchGeoIP reloads changed GeoIP files until ctx ends.
func (s *Server) watchGeoIP(ctx context.Context) {
	s.geo.Watch(ctx, time.Duration(s.cfg.GeoIP.ReloadInterval), s.log.Named("geoip"), func(changed []string, err error) {
		if len(changed) > 0 {
			s.metrics.GeoReloads.WithLabelValues("ok").Inc()
			for _, st := range s.geo.Status() {
				if st.Loaded {
					s.metrics.GeoIPBuild.WithLabelValues(st.Kind).Set(float64(st.BuildTime.Unix()))
				}
			}
		}
		if err != nil {
			s.metrics.GeoReloads.WithLabelValues("failed").Inc()
		}
	})
}

func (c *Config) linkURL() string {
	if c.LinkURL != "" {
		return strings.TrimSuffix(c.LinkURL, "/")
	}
	return "https://" + c.APIListen + "/api/v1"
}

// Policy is the fleet policy this node serves.
func (s *Server) Policy() *transport.PolicyDoc { return s.policy }

// AgentTLSConfig is the agent listener's TLS: 1.3 only; a client
// certificate from the collector CA is verified when presented and
// required by every path but enrollment.
func (s *Server) AgentTLSConfig() *tls.Config {
	return &tls.Config{
		MinVersion:   tls.VersionTLS13,
		Certificates: []tls.Certificate{s.serverTLS},
		ClientCAs:    s.ca.Pool(),
		ClientAuth:   tls.VerifyClientCertIfGiven,
		NextProtos:   []string{"h2", "http/1.1"},
	}
}

// APITLSConfig is the console/API listener's TLS.
func (s *Server) APITLSConfig() *tls.Config {
	return &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{s.serverTLS}, NextProtos: []string{"h2", "http/1.1"}}
}

// APIHandler is the console/API port: the REST API and /metrics.
func (s *Server) APIHandler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/api/", api.New(api.Options{Store: s.store, Log: s.log.Named("api"), Now: s.now, CollectorName: s.cfg.Name, Metrics: api.NewMetrics(s.metrics.Registry)}))
	mux.Handle("GET /metrics", promhttp.HandlerFor(s.metrics.Registry, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		if err := s.store.Ping(r.Context()); err != nil {
			http.Error(w, "database unreachable", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ok")
	})
	return mux
}

// Run serves both listeners and runs the periodic jobs until ctx ends.
// ready, when not nil, is called with the bound addresses once both
// listeners accept connections.
func (s *Server) Run(ctx context.Context, ready func(agentAddr, apiAddr string)) error {
	agentLn, err := net.Listen("tcp", s.cfg.AgentListen)
	if err != nil {
		return fmt.Errorf("agent listener: %w", err)
	}
	apiLn, err := net.Listen("tcp", s.cfg.APIListen)
	if err != nil {
		agentLn.Close()
		return fmt.Errorf("API listener: %w", err)
	}
	errLog, _ := zap.NewStdLogAt(s.log.Named("http"), zap.DebugLevel)
	agentSrv := &http.Server{Handler: s.AgentHandler(), TLSConfig: s.AgentTLSConfig(), ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 60 * time.Second, IdleTimeout: 5 * time.Minute, ErrorLog: errLog}
	apiSrv := &http.Server{Handler: s.APIHandler(), TLSConfig: s.APITLSConfig(), ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute, ErrorLog: errLog}

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	serve := func(srv *http.Server, ln net.Listener) {
		defer wg.Done()
		if err := srv.ServeTLS(ln, "", ""); err != nil && !errors.Is(err, http.ErrServerClosed) {
			errs <- err
			cancel()
		}
	}
	wg.Add(5)
	go serve(agentSrv, agentLn)
	go serve(apiSrv, apiLn)
	go func() {
		defer wg.Done()
		if err := s.disp.Run(ctx); err != nil && !errors.Is(err, context.Canceled) {
			errs <- fmt.Errorf("sinks: %w", err)
		}
	}()
	go func() {
		defer wg.Done()
		s.jobs(ctx)
	}()
	go func() {
		defer wg.Done()
		s.watchGeoIP(ctx)
	}()
	s.log.Info("collector serving", zap.String("agents", agentLn.Addr().String()), zap.String("api", apiLn.Addr().String()), zap.String("policy_version", s.policy.Version))
	if ready != nil {
		ready(agentLn.Addr().String(), apiLn.Addr().String())
	}
	<-ctx.Done()
	shutdown, done := context.WithTimeout(context.Background(), 10*time.Second)
	defer done()
	agentSrv.Shutdown(shutdown)
	apiSrv.Shutdown(shutdown)
	wg.Wait()
	close(errs)
	var all []error
	for e := range errs {
		all = append(all, e)
	}
	return errors.Join(all...)
}
