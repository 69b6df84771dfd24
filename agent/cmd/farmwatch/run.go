package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"runtime"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"go.uber.org/zap"

	"github.com/farmwatch/farmwatch/agent"
	"github.com/farmwatch/farmwatch/agent/svc"
	"github.com/farmwatch/farmwatch/detectors"
	"github.com/farmwatch/farmwatch/transport"
)

func enrollCmd(g *globals) *cobra.Command {
	var server, token, tokenFile, caFile, hostname string
	cmd := &cobra.Command{
		Use:   "enroll --server URL --token TOKEN [--ca FILE]",
		Short: "enroll this device with a collector (creates the device key, gets a client certificate)",
		Long: `enroll generates this device's key in the state directory (once), sends a
certificate request with the enrollment token, and stores the client
certificate, the collector CA (pinned from then on) and the fleet key.
Enrolling again keeps the same key, so the device keeps its id.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, log, err := g.load()
			if err != nil {
				return err
			}
			if server == "" {
				server = cfg.Enrollment.Server
			}
			if caFile == "" {
				caFile = cfg.Enrollment.CAFile
			}
			if token == "" && tokenFile == "" {
				token, tokenFile = cfg.Enrollment.Token, cfg.Enrollment.TokenFile
			}
			if server == "" {
				return usageErr(errors.New("--server is required (or enrollment.server in the configuration)"))
			}
			e, err := enroll(cmd.Context(), cfg, server, token, tokenFile, caFile, hostname)
			if err != nil {
				return err
			}
			log.Info("enrolled", zap.String("device_id", e.DeviceID), zap.String("server", e.Server))
			fmt.Fprintf(g.stdout, "enrolled as %s with %s; certificate valid until %s\n", e.DeviceID, e.Server, e.NotAfter.Format(time.RFC3339))
			return nil
		},
	}
	cmd.Flags().StringVar(&server, "server", "", "collector agent URL, e.g. https://collector.example:8443")
	cmd.Flags().StringVar(&token, "token", "", "enrollment token (from farmwatch-collector token create)")
	cmd.Flags().StringVar(&tokenFile, "token-file", "", "read the enrollment token from this file")
	cmd.Flags().StringVar(&caFile, "ca", "", "collector CA certificate to pin (PEM); default: the system roots")
	cmd.Flags().StringVar(&hostname, "hostname", "", "name to register the device under (default: the OS hostname; e.g. an asset tag)")
	return cmd
}

// enroll runs the enrollment with a token given directly or in a file.
func enroll(ctx context.Context, cfg agent.Config, server, token, tokenFile, caFile, hostname string) (*transport.Enrollment, error) {
	if tokenFile != "" {
		b, err := os.ReadFile(tokenFile)
		if err != nil {
			return nil, usageErr(fmt.Errorf("token file: %w", err))
		}
		token = strings.TrimSpace(string(b))
	}
	if token == "" {
		return nil, usageErr(errors.New("--token or --token-file is required (or enrollment.token / token_file in the configuration)"))
	}
	var ca []byte
	if caFile != "" {
		var err error
		if ca, err = os.ReadFile(caFile); err != nil {
			return nil, usageErr(fmt.Errorf("CA file: %w", err))
		}
	}
	if hostname == "" {
		hostname, _ = os.Hostname()
	}
	return transport.Enroll(ctx, transport.EnrollOptions{
		Server: server, Token: token, CAPEM: ca, StateDir: cfg.StateDir,
		Hostname: hostname, OS: runtime.GOOS, Arch: runtime.GOARCH, AgentVersion: agent.Version,
	})
}

func runCmd(g *globals) *cobra.Command {
	var (
		once           bool
		timeout        time.Duration
		snapshot       string
		windowsService bool
	)
	cmd := &cobra.Command{
		Use:   "run [--once]",
		Short: "run the agent in the foreground: check on schedule and deliver signed reports (what the service runs)",
		Long: `run checks this laptop on a schedule (each detector on its own interval, and
again after wake from sleep, a network change or a USB/display change;
docs/service.md), signs each report with the device key into the durable
queue, and delivers the queue to the collector over mTLS. With --once it
runs one full check, waits until the collector acknowledged every queued
report, and exits 0 (1 if delivery failed within --timeout). If the device is not enrolled and the
configuration has an enrollment section, it enrolls first.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, log, err := g.load()
			if err != nil {
				return err
			}
			if _, err := transport.LoadState(cfg.StateDir); errors.Is(err, transport.ErrNotEnrolled) {
				notEnrolled := err
				if cfg.Enrollment.Server != "" {
					e, err := enroll(cmd.Context(), cfg, cfg.Enrollment.Server, cfg.Enrollment.Token, cfg.Enrollment.TokenFile, cfg.Enrollment.CAFile, "")
					if err == nil {
						log.Info("enrolled from the configuration", zap.String("device_id", e.DeviceID))
					}
					notEnrolled = err
					if err != nil {
						notEnrolled = fmt.Errorf("enrollment from the configuration: %w", err)
					}
				}
				if notEnrolled != nil {
					if once {
						return notEnrolled
					}
					// The service stays up and says why through the local
					// API (`farmwatch status`, the tray) instead of failing
					// and being restarted in a loop.
					log.Error("not enrolled; serving the status only (enroll, then restart the service)", zap.Error(notEnrolled))
					return svc.Run(cmd.Context(), svc.Name, windowsService, log, func(ctx context.Context) error {
						return agent.ServeNotEnrolled(ctx, cfg, log, notEnrolled)
					})
				}
			}
			if snapshot != "" && !once {
				return usageErr(errors.New("--snapshot needs --once"))
			}
			var snap *detectors.Snapshot
			if snapshot != "" {
				if snap, err = readSnapshot(snapshot); err != nil {
					return usageErr(err)
				}
			}
			a, err := agent.OpenAgent(cfg, log)
			if err != nil {
				return err
			}
			defer a.Close()
			if !once {
				// Under a service manager (systemd, launchd, the Windows
				// SCM) the manager starts and stops it; from a terminal it
				// runs until interrupted.
				return svc.Run(cmd.Context(), svc.Name, windowsService, log, a.Serve)
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), timeout)
			defer cancel()
			res, n, err := a.RunOnce(ctx, snap)
			if res != nil {
				max := "none"
				if s, any := agent.MaxSeverity(res.Findings); any {
					max = s.String()
				}
				fmt.Fprintf(g.stdout, "checked: %d finding(s), highest %s; %d report(s) delivered to %s as %s\n", len(res.Findings), max, n, a.Server(), a.DeviceID())
			}
			if err != nil {
				return fmt.Errorf("run --once: %w (reports stay queued in %s and are sent on the next run)", err, cfg.StateDir)
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&once, "once", false, "run one check, deliver, and exit")
	cmd.Flags().BoolVar(&windowsService, "windows-service", false, "Windows: run as a service even when the service manager is not detected (Wine)")
	cmd.Flags().MarkHidden("windows-service")
	cmd.Flags().DurationVar(&timeout, "timeout", 5*time.Minute, "with --once: give up delivering after this long")
	cmd.Flags().StringVar(&snapshot, "snapshot", "", "with --once: report the evaluation of this snapshot file instead of the live host (tests, demos, replaying a recorded laptop)")
	return cmd
}
