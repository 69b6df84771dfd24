package main

import (
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/farmwatch/farmwatch/collector/server"
)

func initCmd(e *env) *cobra.Command {
	var (
		dir      string
		names    []string
		name     string
		agentL   string
		apiL     string
		database string
	)
	cmd := &cobra.Command{
		Use:   "init --dir DIR",
		Short: "create a collector: CA, server certificate, fleet key, collector.yaml, database and a first admin user",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if dir == "" {
				return usage("--dir is required")
			}
			res, err := server.Initialize(cmd.Context(), server.InitOptions{
				Dir: dir, Names: names, CollectorName: name, AgentListen: agentL, APIListen: apiL, Database: database,
			})
			if errors.Is(err, server.ErrInitialised) {
				return usage("%v", err)
			}
			if err != nil {
				return err
			}
			fmt.Fprintf(e.stdout, `Collector initialised in %s
  configuration   %s
  CA certificate  %s   (give this to agents: farmwatch enroll --ca)
  agent port      https://%s
  console/API     https://%s
  admin user      admin
  admin password  %s   (one-time: change it with POST /api/v1/me/password)

Next: farmwatch-collector serve --config %s
`, dir, res.ConfigPath, res.CAPath, agentL, apiL, res.AdminPassword, res.ConfigPath)
			return nil
		},
	}
	cmd.Flags().StringVar(&dir, "dir", "", "directory to create the collector in")
	cmd.Flags().StringSliceVar(&names, "name", []string{"localhost", "127.0.0.1"}, "DNS names and IP addresses of the collector (server certificate SANs; repeatable)")
	cmd.Flags().StringVar(&name, "collector-name", "farmwatch", "name of this collector (CA subject, alerts)")
	cmd.Flags().StringVar(&agentL, "agent-listen", "127.0.0.1:8443", "agent listener address")
	cmd.Flags().StringVar(&apiL, "api-listen", "127.0.0.1:8444", "console/API listener address")
	cmd.Flags().StringVar(&database, "database", "", "database (default: farmwatch.db in DIR; or a postgres:// URL)")
	return cmd
}

func serveCmd(e *env) *cobra.Command {
	return &cobra.Command{
		Use:   "serve",
		Short: "run the collector: agent and console/API listeners, correlation and alert delivery",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, st, log, err := e.open(cmd.Context())
			if err != nil {
				return err
			}
			defer st.Close()
			srv, err := server.New(cfg, st, log)
			if err != nil {
				return usage("%v", err)
			}
			return srv.Run(cmd.Context(), nil)
		},
	}
}
