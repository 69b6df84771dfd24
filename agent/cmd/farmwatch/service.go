package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"

	"github.com/spf13/cobra"

	"github.com/farmwatch/farmwatch/agent"
	"github.com/farmwatch/farmwatch/agent/svc"
)

// Exit codes of `farmwatch service status` (as LSB init scripts' status):
// 0 running, 3 stopped, 4 not installed or unknown.
const (
	exitServiceStopped = 3
	exitServiceUnknown = 4
)

func serviceCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "service install|uninstall|start|stop|status",
		Short: "install, control and query the farmwatch system service",
		Long: `service manages the system service that runs "farmwatch run" from boot:
a hardened systemd unit on Linux, a LaunchDaemon on macOS, an SCM service
with recovery actions on Windows (docs/service.md). install registers this
binary with the --config given here, if any; it needs administrator rights.
status prints running, stopped or not installed and exits 0, 3 or 4.`,
		Args:      cobra.ExactArgs(1),
		ValidArgs: svc.Actions,
		RunE: func(cmd *cobra.Command, args []string) error {
			action := args[0]
			cfg, _, err := g.load()
			if err != nil {
				return err
			}
			o, err := serviceOptions(g, cfg)
			if err != nil {
				return err
			}
			switch action {
			case "status":
				st, err := svc.Status(runtime.GOOS, o)
				fmt.Fprintf(g.stdout, "farmwatch service: %s\n", st)
				switch {
				case err != nil:
					return &exitError{code: exitServiceUnknown, err: err}
				case st == svc.StateRunning:
					return nil
				case st == svc.StateStopped:
					return &exitError{code: exitServiceStopped}
				default:
					return &exitError{code: exitServiceUnknown}
				}
			case "install", "uninstall", "start", "stop":
				if err := svc.Control(runtime.GOOS, action, o); err != nil {
					return err
				}
				fmt.Fprintf(g.stdout, "farmwatch service: %s done\n", action)
				return nil
			}
			return usageErr(fmt.Errorf("unknown action %q (want install, uninstall, start, stop or status)", action))
		},
	}
	return cmd
}

// serviceOptions describe the service this binary installs.
func serviceOptions(g *globals, cfg agent.Config) (svc.Options, error) {
	exe, err := os.Executable()
	if err != nil {
		return svc.Options{}, fmt.Errorf("service: this binary's path: %w", err)
	}
	if exe, err = filepath.EvalSymlinks(exe); err != nil {
		return svc.Options{}, fmt.Errorf("service: this binary's path: %w", err)
	}
	o := svc.Options{Executable: exe, StateDir: cfg.StateDir, LogDir: agent.DefaultPaths(runtime.GOOS, os.Getenv).Logs}
	if g.configPath != "" {
		if o.ConfigPath, err = filepath.Abs(g.configPath); err != nil {
			return o, usageErr(fmt.Errorf("--config: %w", err))
		}
	}
	if g.stateDir != "" {
		// The state directory given here must reach the service too.
		o.Arguments = append(svc.RunArguments(o.ConfigPath), "--state-dir", cfg.StateDir)
	}
	if !filepath.IsAbs(o.StateDir) {
		return o, usageErr(errors.New("service: the state directory must be an absolute path"))
	}
	return o, nil
}
