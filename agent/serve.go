package agent

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/farmwatch/farmwatch/agent/localapi"
)

// LocalAPIConfig sets up the local status API.
type LocalAPIConfig struct {
	// Endpoint is the unix socket path, or on Windows the pipe name (the
	// admin pipe is the same name with "-admin"); default
	// localapi.DefaultEndpoint.
	Endpoint string `yaml:"endpoint"`
	// AdminGroups are the unix groups whose members, besides root, may ask
	// for a check now; default localapi.DefaultAdminGroups (sudo, wheel on
	// Linux; admin, wheel on macOS). Windows ignores them.
	AdminGroups []string `yaml:"admin_groups"`
}

func (c *LocalAPIConfig) validate() error {
	goos := "linux" // the shape of the endpoint says which kind it is
	if strings.HasPrefix(c.Endpoint, `\\.\pipe\`) {
		goos = "windows"
	}
	if err := localapi.CheckEndpoint(goos, c.Endpoint); err != nil {
		return fmt.Errorf("config: local_api.endpoint: %w", err)
	}
	for _, g := range c.AdminGroups {
		if strings.TrimSpace(g) == "" {
			return errors.New("config: local_api.admin_groups: empty group name")
		}
	}
	return nil
}

// Serve runs the agent (Run) and the local status API together until ctx
// ends, and stops both: if the API cannot start (the endpoint is taken),
// the agent still runs and the error is logged, because checking and
// reporting matter more than telling the device owner.
func (a *Agent) Serve(ctx context.Context) error {
	a.status.mu.Lock()
	a.status.startedAt = a.Now().UTC()
	a.status.server = a.Server()
	a.status.mu.Unlock()
	prev := a.sender.OnResult
	a.sender.OnResult = func(n int, err error) {
		a.status.recordDelivery(a.Now().UTC(), err)
		if prev != nil {
			prev(n, err)
		}
	}
	srv := &localapi.Server{Source: a, Log: a.Log.Named("localapi"), Now: a.Now, AdminGroups: a.Config.LocalAPI.AdminGroups}
	return serveWith(ctx, a.Log, srv, a.Config.LocalAPI.Endpoint, a.Run)
}

// ServeNotEnrolled serves the local API for a service that cannot run
// because the device is not enrolled, until ctx ends: `farmwatch status`
// and the tray then say so (and how to fix it) instead of "not running".
func ServeNotEnrolled(ctx context.Context, cfg Config, log *zap.Logger, reason error) error {
	src := notEnrolled{startedAt: time.Now().UTC()}
	if reason != nil {
		src.reason = reason.Error()
	}
	srv := &localapi.Server{Source: src, Log: log.Named("localapi"), AdminGroups: cfg.LocalAPI.AdminGroups}
	return serveWith(ctx, log, srv, cfg.LocalAPI.Endpoint, func(ctx context.Context) error {
		<-ctx.Done()
		return nil
	})
}

// serveWith runs the API server and run together; both stop when ctx
// ends or run returns.
func serveWith(ctx context.Context, log *zap.Logger, srv *localapi.Server, endpoint string, run func(context.Context) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	wg.Go(func() {
		if err := srv.Serve(ctx, endpoint); err != nil {
			log.Error("local status API not available; the agent goes on without it", zap.Error(err))
		}
	})
	err := run(ctx)
	cancel()
	wg.Wait()
	return err
}
