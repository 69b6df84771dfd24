package main

import (
	"fmt"
	"net/netip"
	"strconv"
	"time"

	"github.com/spf13/cobra"

	"github.com/farmwatch/farmwatch/collector/geo"
	"github.com/farmwatch/farmwatch/collector/server"
)

// geoipCmd is the operator's view of the GeoIP databases the collector
// judges devices with.
func geoipCmd(e *env) *cobra.Command {
	cmd := &cobra.Command{Use: "geoip", Short: "GeoIP databases: check them, look an address up"}
	var asJSON bool
	lookup := &cobra.Command{
		Use:   "lookup IP",
		Short: "locate an address with the configured City and ASN databases, as ingest does",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ip, err := netip.ParseAddr(args[0])
			if err != nil {
				return usage("%q is not an IP address", args[0])
			}
			db, err := e.openGeoIP()
			if err != nil {
				return err
			}
			loc, err := db.Lookup(ip)
			if err != nil {
				return err
			}
			o, err := e.geoOptions()
			if err != nil {
				return err
			}
			hosting := ""
			for _, f := range geo.Judge(geo.Input{Loc: loc}, o).Findings {
				if f.Rule == geo.RuleHostingASN {
					hosting, _ = f.Evidence["ip_location"].(map[string]any)["matched"].(string)
				}
			}
			if asJSON {
				return printJSON(e.stdout, struct {
					geo.Location
					Hosting string `json:"hosting,omitempty"`
				}{loc, hosting})
			}
			if !loc.Located() && loc.ASN == 0 {
				fmt.Fprintf(e.stdout, "%s: not in the databases (private, reserved or unlisted address)\n", ip)
				return nil
			}
			rows := [][]string{{"ip", ip.String()}, {"country", loc.Country}, {"city", loc.City}}
			if loc.HasCoords {
				rows = append(rows, []string{"position", fmt.Sprintf("%.4f, %.4f (± %.0f km)", loc.Latitude, loc.Longitude, loc.AccuracyKM)})
			}
			rows = append(rows, []string{"time zone", loc.TimeZone})
			if loc.ASN != 0 {
				rows = append(rows, []string{"asn", "AS" + strconv.FormatUint(uint64(loc.ASN), 10) + " " + loc.ASOrg})
			}
			if hosting != "" {
				rows = append(rows, []string{"hosting/VPN", hosting})
			}
			return table(e.stdout, "FIELD\tVALUE", rows)
		},
	}
	lookup.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	var statusJSON bool
	status := &cobra.Command{
		Use:   "status",
		Short: "open and verify the configured databases and print their type and build time",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			db, err := e.openGeoIP()
			if err != nil {
				return err
			}
			if statusJSON {
				return printJSON(e.stdout, db.Status())
			}
			var rows [][]string
			for _, s := range db.Status() {
				if !s.Loaded {
					rows = append(rows, []string{s.Kind, "not configured (its rules are off)", "", ""})
					continue
				}
				rows = append(rows, []string{s.Kind, s.Path, s.DatabaseType, s.BuildTime.Format(time.DateOnly)})
			}
			return table(e.stdout, "KIND\tPATH\tTYPE\tBUILT", rows)
		},
	}
	status.Flags().BoolVar(&statusJSON, "json", false, "print JSON")
	cmd.AddCommand(lookup, status)
	return cmd
}

func (e *env) config() (*server.Config, error) {
	if e.configPath == "" {
		return nil, usage("--config is required (the collector.yaml written by `farmwatch-collector init`)")
	}
	cfg, err := server.LoadConfig(e.configPath)
	if err != nil {
		return nil, usage("%v", err)
	}
	return cfg, nil
}

func (e *env) openGeoIP() (*geo.DB, error) {
	cfg, err := e.config()
	if err != nil {
		return nil, err
	}
	return cfg.OpenGeoIP()
}

func (e *env) geoOptions() (geo.Options, error) {
	cfg, err := e.config()
	if err != nil {
		return geo.Options{}, err
	}
	return cfg.GeoOptions()
}
