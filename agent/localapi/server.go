package localapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"time"

	"go.uber.org/zap"
)

// Source is what the server reads: the agent implements it.
type Source interface {
	// Facts returns a consistent copy of what the agent knows; it must be
	// safe for concurrent use and must not block on a running check.
	Facts() Facts
	// RequestCheck asks for a check now; requests made while one is
	// pending are merged.
	RequestCheck(reason string)
}

// Bounds of the server. A request carries no meaningful body; answers
// are a few kilobytes.
const (
	maxRequestBody  = 4 << 10
	maxHeaderBytes  = 8 << 10
	maxConnections  = 32
	readTimeout     = 10 * time.Second
	writeTimeout    = 10 * time.Second
	idleTimeout     = 30 * time.Second
	shutdownTimeout = 5 * time.Second
)

// Server serves the local API.
type Server struct {
	Source Source
	Log    *zap.Logger
	// Now is the clock of the answers; default time.Now.
	Now func() time.Time
	// AdminGroups are, on unix, the groups whose members (besides root)
	// may call privileged endpoints; see DefaultAdminGroups. Windows
	// ignores them: the admin pipe's security descriptor decides.
	AdminGroups []string
}

// Peer is who called, as the operating system vouches for it.
type Peer struct {
	// UID and PID of a unix caller; -1 when unknown (Windows).
	UID, PID int
	// Admin is true for root or a member of an admin group (unix), or a
	// caller on the admin pipe (Windows).
	Admin bool
	// Via names the channel: "unix socket", "pipe" or "admin pipe".
	Via string
}

type peerKey struct{}

// PeerFromContext returns the caller of a request the server handles.
func PeerFromContext(ctx context.Context) (Peer, bool) {
	p, ok := ctx.Value(peerKey{}).(Peer)
	return p, ok
}

// peerConn is an accepted connection with its caller identified.
type peerConn struct {
	net.Conn
	peer    Peer
	release func()
	once    sync.Once
}

// identifyingListener identifies each accepted connection's caller and
// bounds how many connections are open at once.
type identifyingListener struct {
	net.Listener
	identify func(net.Conn) Peer
	slots    chan struct{}
}

func newIdentifyingListener(l net.Listener, identify func(net.Conn) Peer) *identifyingListener {
	return &identifyingListener{Listener: l, identify: identify, slots: make(chan struct{}, maxConnections)}
}

// Accept waits for a free slot, then for a connection.
func (l *identifyingListener) Accept() (net.Conn, error) {
	l.slots <- struct{}{}
	c, err := l.Listener.Accept()
	if err != nil {
		<-l.slots
		return nil, err
	}
	return &peerConn{Conn: c, peer: l.identify(c), release: func() { <-l.slots }}, nil
}

// Close releases the connection's slot once.
func (c *peerConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.release)
	return err
}

func (s *Server) log() *zap.Logger {
	if s.Log == nil {
		return zap.NewNop()
	}
	return s.Log
}

func (s *Server) now() time.Time {
	if s.Now == nil {
		return time.Now()
	}
	return s.Now()
}

// Serve listens at endpoint (a unix socket path, or a pipe name on
// Windows, where endpoint+"-admin" is the admin pipe) and serves until ctx
// ends; it then stops accepting, lets requests in flight finish for a few
// seconds, and removes the socket.
func (s *Server) Serve(ctx context.Context, endpoint string) error {
	ls, err := listen(endpoint, s.AdminGroups, s.log())
	if err != nil {
		return fmt.Errorf("local API: %w", err)
	}
	hs := s.httpServer()
	errs := make(chan error, len(ls))
	for _, l := range ls {
		go func() { errs <- hs.Serve(l) }()
	}
	s.log().Info("local API listening", zap.String("endpoint", endpoint))
	var first error
	pending := len(ls)
	select {
	case <-ctx.Done():
	case first = <-errs:
		pending-- // a listener failed: stop the others too
	}
	sctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	if err := hs.Shutdown(sctx); err != nil {
		hs.Close()
	}
	for ; pending > 0; pending-- {
		if err := <-errs; first == nil && !errors.Is(err, http.ErrServerClosed) {
			first = err
		}
	}
	if first != nil && !errors.Is(first, http.ErrServerClosed) {
		return fmt.Errorf("local API: %w", first)
	}
	return nil
}

func (s *Server) httpServer() *http.Server {
	return &http.Server{
		Handler:           s.Handler(),
		ReadHeaderTimeout: readTimeout,
		ReadTimeout:       readTimeout,
		WriteTimeout:      writeTimeout,
		IdleTimeout:       idleTimeout,
		MaxHeaderBytes:    maxHeaderBytes,
		ErrorLog:          zap.NewStdLog(s.log().Named("http")),
		ConnContext: func(ctx context.Context, c net.Conn) context.Context {
			if pc, ok := c.(*peerConn); ok {
				return context.WithValue(ctx, peerKey{}, pc.peer)
			}
			return ctx
		},
	}
}

// Handler is the API's HTTP handler. A request without a peer in its
// context (one that did not come through Serve) is nobody: it may read
// but not act.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	get := func(path string, answer func(f Facts, p Peer) any) {
		mux.HandleFunc("GET "+path, func(w http.ResponseWriter, r *http.Request) {
			if !s.readBody(w, r) {
				return
			}
			p, _ := PeerFromContext(r.Context())
			writeJSON(w, http.StatusOK, answer(s.Source.Facts(), p))
		})
		mux.HandleFunc(path, methodNotAllowed("GET"))
	}
	get(PathStatus, func(f Facts, p Peer) any {
		st := Describe(f, s.now())
		st.CanCheckNow = p.Admin && f.Enrolled
		return st
	})
	get(PathScan, func(f Facts, _ Peer) any { return DescribeScan(f) })
	get(PathConnection, func(f Facts, _ Peer) any { return DescribeConnection(f) })
	get(PathQueue, func(f Facts, _ Peer) any { return f.Queue })
	get(PathCollected, func(f Facts, _ Peer) any { return DescribeCollected(f) })
	mux.HandleFunc("POST "+PathCheck, s.checkNow)
	mux.HandleFunc(PathCheck, methodNotAllowed("POST"))
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusNotFound, apiError{Error: "no such endpoint: " + r.URL.Path, Reason: "not_found"})
	})
	return mux
}

func (s *Server) checkNow(w http.ResponseWriter, r *http.Request) {
	if !s.readBody(w, r) {
		return
	}
	p, _ := PeerFromContext(r.Context())
	if !p.Admin {
		s.log().Info("check-now refused: the caller is not an administrator", zap.Int("uid", p.UID), zap.Int("pid", p.PID), zap.String("via", p.Via))
		writeJSON(w, http.StatusForbidden, apiError{Error: "ask for a check with sudo or as an administrator", Reason: "forbidden"})
		return
	}
	if f := s.Source.Facts(); !f.Enrolled {
		writeJSON(w, http.StatusConflict, apiError{Error: "this device is not enrolled, so there is nothing to check with: " + f.NotEnrolled, Reason: "not_enrolled"})
		return
	}
	reason := "local API (" + p.Via + ")"
	if p.UID >= 0 {
		reason = fmt.Sprintf("local API (uid %d, pid %d)", p.UID, p.PID)
	}
	s.log().Info("check requested through the local API", zap.Int("uid", p.UID), zap.Int("pid", p.PID), zap.String("via", p.Via))
	s.Source.RequestCheck(reason)
	writeJSON(w, http.StatusAccepted, CheckAccepted{Accepted: true, Message: "a check was requested; it starts within a few seconds unless one is already running"})
}

// readBody reads and drops the request body, refusing one over the
// bound; it reports whether the request may go on.
func (s *Server) readBody(w http.ResponseWriter, r *http.Request) bool {
	body := http.MaxBytesReader(w, r.Body, maxRequestBody)
	if _, err := io.Copy(io.Discard, body); err != nil {
		var mb *http.MaxBytesError
		if errors.As(err, &mb) {
			writeJSON(w, http.StatusRequestEntityTooLarge, apiError{Error: fmt.Sprintf("request body over %d bytes", maxRequestBody), Reason: "bad_request"})
		} else {
			writeJSON(w, http.StatusBadRequest, apiError{Error: "read request: " + err.Error(), Reason: "bad_request"})
		}
		return false
	}
	return true
}

func methodNotAllowed(allow string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Allow", allow)
		writeJSON(w, http.StatusMethodNotAllowed, apiError{Error: r.Method + " is not allowed here; use " + allow, Reason: "method_not_allowed"})
	}
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v) // the caller went away; nothing to do
}
