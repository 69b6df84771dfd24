package localapi

import (
	"context"
	"errors"
	"testing"
	"time"

	"golang.org/x/sys/windows/registry"
)

// underWine reports whether the tests run under Wine, whose version 8
// never completes go-winio's overlapped pipe I/O: a client connects, but
// the server's ConnectNamedPipe and both sides' reads and writes stay
// pending. Real Windows does (containerd, Docker and Tailscale-style
// servers rely on it).
func underWine() bool {
	k, err := registry.OpenKey(registry.LOCAL_MACHINE, `Software\Wine`, registry.QUERY_VALUE)
	if err != nil {
		return false
	}
	k.Close()
	return true
}

// TestPipesServeAndClose covers what Wine runs: both pipes are created
// with their security descriptors, a client connects to each, and after
// the server stops the client says the service is not running.
func TestPipesServeAndClose(t *testing.T) {
	t.Parallel()
	ep := testEndpoint(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- (&Server{Source: &fakeSource{facts: sampleFacts()}}).Serve(ctx, ep) }()
	read, admin := dialers(ep)
	for name, dial := range map[string]dialFunc{"read": read, "admin": admin} {
		for deadline := time.Now().Add(20 * time.Second); ; {
			dctx, dcancel := context.WithTimeout(context.Background(), 2*time.Second)
			c, err := dial(dctx)
			dcancel()
			if err == nil {
				c.Close()
				break
			}
			if !errors.Is(err, ErrNotRunning) || time.Now().After(deadline) {
				t.Fatalf("%s pipe: %v", name, err)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Serve: %v", err)
	}
	if _, err := read(context.Background()); !errors.Is(err, ErrNotRunning) {
		t.Errorf("dial after stop: %v, want ErrNotRunning", err)
	}
}
