package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"runtime"
	"strings"

	"github.com/spf13/cobra"

	"github.com/farmwatch/farmwatch/agent"
	"github.com/farmwatch/farmwatch/agent/localapi"
)

// exitNotRunning is the exit code of status (and the tray's checks) when
// the farmwatch service is not running.
const exitNotRunning = 4

func statusCmd(g *globals) *cobra.Command {
	var (
		asJSON   bool
		endpoint string
	)
	cmd := &cobra.Command{
		Use:   "status [--json]",
		Short: "say in plain words what farmwatch checks on this laptop, when it last checked and what it found",
		Long: `status asks the running farmwatch service (through its local API, which any
local user may read) what it checks, when it last checked, whether it
reaches the collector and what it found, and prints it in plain words.
--json prints the service's answer: {"level","headline","lines",
"can_check_now","running","enrolled","last_check","connection","queue",…};
level is ok, attention, alert or error.

Exit codes:
  0  the service answered (whatever it found: see the lines, or level in --json)
  1  the service could not be asked (an unexpected error)
  2  bad usage or configuration
  4  the farmwatch service is not running (with --json, {"running":false,…}
     is still printed)`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ep, err := resolveEndpoint(g, endpoint)
			if err != nil {
				return err
			}
			st, err := localapi.NewClient(ep).Status(cmd.Context())
			if errors.Is(err, localapi.ErrNotRunning) {
				msg := notRunningMessage(runtime.GOOS)
				if asJSON {
					if err := writeJSON(g, localapi.Status{Level: localapi.LevelError, Headline: "The farmwatch service is not running.", Lines: []string{msg}, Findings: map[string]int{}}); err != nil {
						return err
					}
				}
				return &exitError{code: exitNotRunning, err: errors.New(msg)}
			}
			if err != nil {
				return err
			}
			if asJSON {
				return writeJSON(g, st)
			}
			_, err = fmt.Fprintln(g.stdout, strings.Join(st.Lines, "\n"))
			return err
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the service's answer as JSON")
	cmd.Flags().StringVar(&endpoint, "endpoint", "", "local API socket or pipe (default: local_api.endpoint of the configuration, "+localapi.DefaultEndpoint(runtime.GOOS)+")")
	return cmd
}

// resolveEndpoint picks the local API endpoint: the flag, else the
// configuration's. A person without read access to the configuration
// (it may hold an enrollment token) still gets the default, unless they
// named the file themselves.
func resolveEndpoint(g *globals, flag string) (string, error) {
	if flag != "" {
		if err := localapi.CheckEndpoint(runtime.GOOS, flag); err != nil {
			return "", usageErr(err)
		}
		return flag, nil
	}
	cfg, _, err := g.load()
	if err != nil {
		if g.configPath != "" {
			return "", err
		}
		return agent.DefaultConfig(runtime.GOOS, func(string) string { return "" }).LocalAPI.Endpoint, nil
	}
	return cfg.LocalAPI.Endpoint, nil
}

// notRunningMessage says the service is down and how to start it on goos.
func notRunningMessage(goos string) string {
	switch goos {
	case "windows":
		return "the farmwatch service is not running; start it from an administrator prompt with `farmwatch service start` (or `sc start farmwatch`), or ask your IT team"
	case "darwin":
		return "the farmwatch service is not running; start it with `sudo farmwatch service start`, or ask your IT team"
	}
	return "the farmwatch service is not running; start it with `sudo farmwatch service start` (or `sudo systemctl start farmwatch`), or ask your IT team"
}

func writeJSON(g *globals, v any) error {
	enc := json.NewEncoder(g.stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
