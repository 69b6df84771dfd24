package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"

	"github.com/spf13/cobra"

	"github.com/farmwatch/farmwatch/agent/localapi"
	"github.com/farmwatch/farmwatch/agent/tray"
)

func trayCmd(g *globals) *cobra.Command {
	var install, remove bool
	cmd := &cobra.Command{
		Use:   "tray [--install-autostart | --remove-autostart]",
		Short: "show farmwatch's status as a tray icon (green, amber, red) for the person using this laptop",
		Long: `tray shows an icon in the desktop's tray, coloured by what farmwatch found,
with the same lines as "farmwatch status" and "Check now" for administrators.
It asks the local farmwatch service; it holds no credentials.
--install-autostart starts it at each login of the current user (Linux:
~/.config/autostart, macOS: ~/Library/LaunchAgents, Windows: the HKCU Run
key); --remove-autostart undoes that.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if install && remove {
				return usageErr(errors.New("--install-autostart and --remove-autostart exclude each other"))
			}
			cfg, log, err := g.load()
			if err != nil {
				return err
			}
			if install || remove {
				exe, err := os.Executable()
				if err == nil {
					exe, err = filepath.EvalSymlinks(exe)
				}
				if err != nil {
					return fmt.Errorf("tray: this binary's path: %w", err)
				}
				home, err := os.UserHomeDir()
				if err != nil && runtime.GOOS != "windows" {
					return fmt.Errorf("tray: %w", err)
				}
				dirs := tray.UserDirs{Home: home, ConfigHome: os.Getenv("XDG_CONFIG_HOME")}
				a := tray.Autostart{Exe: exe}
				if install {
					where, err := tray.InstallAutostart(runtime.GOOS, dirs, a)
					if err != nil {
						return err
					}
					fmt.Fprintf(g.stdout, "the farmwatch tray starts at your next login (%s)\n", where)
					return nil
				}
				where, err := tray.RemoveAutostart(runtime.GOOS, dirs, a)
				if err != nil {
					return err
				}
				fmt.Fprintf(g.stdout, "the farmwatch tray no longer starts at login (%s removed)\n", where)
				return nil
			}
			endpoint := cfg.LocalAPI.Endpoint
			if endpoint == "" {
				endpoint = localapi.DefaultEndpoint(runtime.GOOS)
			}
			return tray.Run(cmd.Context(), localapi.NewClient(endpoint), log.Named("tray"))
		},
	}
	cmd.Flags().BoolVar(&install, "install-autostart", false, "start the tray at each login of the current user")
	cmd.Flags().BoolVar(&remove, "remove-autostart", false, "stop starting the tray at login")
	return cmd
}
