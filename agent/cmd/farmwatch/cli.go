package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"strings"

	"github.com/spf13/cobra"
	"go.uber.org/zap"

	"github.com/farmwatch/farmwatch/agent"
	"github.com/farmwatch/farmwatch/detectors"
	"github.com/farmwatch/farmwatch/transport"
)

// Exit codes.
const (
	exitOK      = 0
	exitFailure = 1
	exitUsage   = 2
	exitFailOn  = 3
)

// exitError carries an exit code through cobra.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }

func usageErr(err error) error { return &exitError{code: exitUsage, err: err} }

// globals are the flags every command takes.
type globals struct {
	configPath string
	stateDir   string
	logLevel   string
	stdout     io.Writer
	stderr     io.Writer
}

// load reads the configuration and applies the global flags over it.
func (g *globals) load() (agent.Config, *zap.Logger, error) {
	cfg, err := agent.LoadConfig(agent.LoadOptions{GOOS: runtime.GOOS, Getenv: os.Getenv, ConfigPath: g.configPath})
	if err != nil {
		return cfg, nil, usageErr(err)
	}
	if g.stateDir != "" {
		cfg.StateDir = g.stateDir
	}
	if g.logLevel != "" {
		cfg.Log.Level = g.logLevel
		if err := cfg.Validate(); err != nil {
			return cfg, nil, usageErr(err)
		}
	}
	log, err := agent.NewLogger(g.stderr, cfg.Log.Level, cfg.Log.Format, "console")
	if err != nil {
		return cfg, nil, usageErr(err)
	}
	return cfg, log, nil
}

// Main runs the CLI and returns the process exit code.
func Main(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	g := &globals{stdout: stdout, stderr: stderr}
	root := &cobra.Command{
		Use:           "farmwatch",
		Short:         "farmwatch checks this laptop for remote-access tools, KVM hardware and other signs of a laptop farm",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.SetArgs(args)
	root.PersistentFlags().StringVar(&g.configPath, "config", "", "configuration file (default: "+agent.DefaultPaths(runtime.GOOS, os.Getenv).Config+", or $"+agent.EnvConfig+")")
	root.PersistentFlags().StringVar(&g.stateDir, "state-dir", "", "state directory (default: "+agent.DefaultPaths(runtime.GOOS, os.Getenv).State+", or $"+agent.EnvStateDir+")")
	root.PersistentFlags().StringVar(&g.logLevel, "log-level", "", "log level: debug, info, warn, error (default from config, info)")
	root.AddCommand(scanCmd(g), snapshotCmd(g), enrollCmd(g), runCmd(g), versionCmd(g))
	root.AddCommand(statusCmd(g), doctorCmd(g))
	root.AddCommand(serviceCmd(g), trayCmd(g))
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageErr(err) })

	err := root.ExecuteContext(ctx)
	if err == nil {
		return exitOK
	}
	var ee *exitError
	if errors.As(err, &ee) {
		if ee.err != nil && ee.code != exitFailOn {
			fmt.Fprintf(stderr, "farmwatch: %v\n", ee.err)
		}
		return ee.code
	}
	var ue *agent.UsageError
	if errors.As(err, &ue) {
		fmt.Fprintf(stderr, "farmwatch: %v\n", err)
		return exitUsage
	}
	fmt.Fprintf(stderr, "farmwatch: %v\n", err)
	if isCobraUsage(err) {
		return exitUsage
	}
	return exitFailure
}

// isCobraUsage recognises cobra's own argument errors (unknown command,
// wrong number of arguments).
func isCobraUsage(err error) bool {
	msg := err.Error()
	for _, p := range []string{"unknown command", "accepts ", "requires ", "unknown flag", "unknown shorthand"} {
		if strings.Contains(msg, p) {
			return true
		}
	}
	return false
}

func scanCmd(g *globals) *cobra.Command {
	var (
		asJSON       bool
		snapshotPath string
		only         string
		failOn       string
	)
	cmd := &cobra.Command{
		Use:   "scan",
		Short: "check this laptop now and print what was found",
		Long: `scan runs the enabled detectors on this laptop (or evaluates a snapshot file)
and prints the findings grouped by severity, each with what matched, why it
matters and what to do. --json prints {"host","findings","detectors"}.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var threshold detectors.Severity
			if failOn != "" {
				s, err := detectors.ParseSeverity(failOn)
				if err != nil {
					return usageErr(fmt.Errorf("--fail-on: %w", err))
				}
				threshold = s
			}
			cfg, log, err := g.load()
			if err != nil {
				return err
			}
			sc := &agent.Scanner{Config: cfg, Log: log, Only: agent.SplitList(only)}
			var res *agent.ScanResult
			if snapshotPath != "" {
				snap, err := readSnapshot(snapshotPath)
				if err != nil {
					return usageErr(err)
				}
				res, err = sc.ScanSnapshot(snap)
				if err != nil {
					return err
				}
			} else {
				res, err = sc.Scan(cmd.Context(), detectors.SystemHost(log))
				if err != nil {
					return err
				}
			}
			if asJSON {
				enc := json.NewEncoder(g.stdout)
				enc.SetIndent("", "  ")
				if err := enc.Encode(res); err != nil {
					return err
				}
			} else if err := agent.WriteReport(g.stdout, res); err != nil {
				return err
			}
			if failOn != "" {
				if max, any := agent.MaxSeverity(res.Findings); any && max >= threshold {
					return &exitError{code: exitFailOn, err: fmt.Errorf("a finding at %s or above", threshold)}
				}
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON instead of the report")
	cmd.Flags().StringVar(&snapshotPath, "snapshot", "", "evaluate this snapshot file instead of the live host")
	cmd.Flags().StringVar(&only, "detectors", "", "comma-separated detectors to run (default: all enabled)")
	cmd.Flags().StringVar(&failOn, "fail-on", "", "exit 3 when a finding at or above this severity exists (info, low, medium, high, critical)")
	return cmd
}

func readSnapshot(path string) (*detectors.Snapshot, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("snapshot: %w", err)
	}
	defer f.Close()
	snap, err := detectors.ReadSnapshot(f)
	if err != nil {
		return nil, fmt.Errorf("snapshot %s: %w", path, err)
	}
	return snap, nil
}

func snapshotCmd(g *globals) *cobra.Command {
	var out, only string
	cmd := &cobra.Command{
		Use:   "snapshot",
		Short: "write this laptop's observations as a snapshot file (farmwatch.snapshot/v1)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, log, err := g.load()
			if err != nil {
				return err
			}
			sc := &agent.Scanner{Config: cfg, Log: log, Only: agent.SplitList(only)}
			snap, results, err := sc.Observe(cmd.Context(), detectors.SystemHost(log))
			if err != nil {
				return err
			}
			for _, r := range results {
				if r.Status != detectors.StatusOK || r.Error != "" {
					log.Warn("detector did not observe fully", zap.String("detector", r.Name), zap.String("status", string(r.Status)), zap.String("error", r.Error))
				}
			}
			data, err := json.MarshalIndent(snap, "", "  ")
			if err != nil {
				return err
			}
			data = append(data, '\n')
			if out == "" || out == "-" {
				_, err = g.stdout.Write(data)
				return err
			}
			return transport.WriteFileAtomic(out, data, 0o644)
		},
	}
	cmd.Flags().StringVarP(&out, "output", "o", "", "write to this file instead of standard output")
	cmd.Flags().StringVar(&only, "detectors", "", "comma-separated detectors to observe (default: all enabled)")
	return cmd
}

func versionCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "print the version of this build",
		Args:  cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			_, err := fmt.Fprintln(g.stdout, agent.VersionString())
			return err
		},
	}
}
