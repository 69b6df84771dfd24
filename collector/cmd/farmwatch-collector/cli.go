package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"go.uber.org/zap"

	"github.com/farmwatch/farmwatch/collector/server"
	"github.com/farmwatch/farmwatch/collector/store"
)

// Exit codes.
const (
	exitOK      = 0
	exitFailure = 1
	exitUsage   = 2
)

type usageError struct{ err error }

func (e *usageError) Error() string { return e.err.Error() }
func (e *usageError) Unwrap() error { return e.err }

func usage(format string, a ...any) error { return &usageError{fmt.Errorf(format, a...)} }

// env is what every command shares.
type env struct {
	configPath string
	stdout     io.Writer
	stderr     io.Writer
}

// open loads the configuration and opens the store.
func (e *env) open(ctx context.Context) (*server.Config, store.Store, *zap.Logger, error) {
	if e.configPath == "" {
		return nil, nil, nil, usage("--config is required (the collector.yaml written by `farmwatch-collector init`)")
	}
	cfg, err := server.LoadConfig(e.configPath)
	if err != nil {
		return nil, nil, nil, usage("%v", err)
	}
	log, err := cfg.NewLogger(e.stderr)
	if err != nil {
		return nil, nil, nil, usage("%v", err)
	}
	st, err := store.Open(ctx, cfg.DatabaseDSN(), log.Named("store"))
	if err != nil {
		return nil, nil, nil, err
	}
	return cfg, st, log, nil
}

// Main runs the CLI and returns the exit code.
func Main(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	e := &env{stdout: stdout, stderr: stderr}
	root := &cobra.Command{
		Use:           "farmwatch-collector",
		Short:         "the farmwatch collector: verified ingest, fleet correlation and SOC alerts",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.SetArgs(args)
	root.PersistentFlags().StringVar(&e.configPath, "config", os.Getenv("FARMWATCH_COLLECTOR_CONFIG"), "collector.yaml (or $FARMWATCH_COLLECTOR_CONFIG)")
	root.AddCommand(initCmd(e), serveCmd(e), tokenCmd(e), devicesCmd(e), alertsCmd(e), rosterCmd(e), userCmd(e), geoipCmd(e), versionCmd(e))
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return &usageError{err} })
	err := root.ExecuteContext(ctx)
	if err == nil {
		return exitOK
	}
	fmt.Fprintf(stderr, "farmwatch-collector: %v\n", err)
	var ue *usageError
	if errors.As(err, &ue) || isCobraUsage(err) {
		return exitUsage
	}
	return exitFailure
}

func isCobraUsage(err error) bool {
	msg := err.Error()
	for _, p := range []string{"unknown command", "accepts ", "requires ", "unknown flag", "unknown shorthand", "required flag"} {
		if strings.Contains(msg, p) {
			return true
		}
	}
	return false
}

func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func versionCmd(e *env) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "print the version of this build",
		Args:  cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			_, err := fmt.Fprintln(e.stdout, server.VersionString())
			return err
		},
	}
}
