package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"strings"
	"testing"

	"github.com/farmwatch/farmwatch/collector/geo/geotest"
	"github.com/farmwatch/farmwatch/collector/server"
)

func TestGeoIPCommands(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := t.TempDir()
	res, err := server.Initialize(ctx, server.InitOptions{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := geotest.Files(dir, geotest.FixtureCities, geotest.FixtureASNs); err != nil {
		t.Fatal(err)
	}
	yaml, err := os.ReadFile(res.ConfigPath)
	if err != nil {
		t.Fatal(err)
	}
	text := strings.Replace(strings.Replace(string(yaml), `city_db: ""`, `city_db: city.mmdb`, 1), `asn_db: ""`, `asn_db: asn.mmdb`, 1)
	if text == string(yaml) {
		t.Fatal("the collector.yaml init writes has no geoip.city_db line")
	}
	if err := os.WriteFile(res.ConfigPath, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	run := func(args ...string) (int, string, string) {
		var out, errOut bytes.Buffer
		code := Main(ctx, append(args, "--config", res.ConfigPath), &out, &errOut)
		return code, out.String(), errOut.String()
	}

	code, out, errOut := run("geoip", "lookup", "175.16.199.9", "--json")
	if code != exitOK {
		t.Fatalf("lookup: exit %d: %s", code, errOut)
	}
	var got struct {
		Country, City, Hosting string
		ASN                    uint32
		AccuracyKM             float64 `json:"accuracy_radius_km"`
	}
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if got.Country != "US" || got.City != "Ashburn" || got.ASN != 64512 || got.AccuracyKM != 20 || !strings.Contains(got.Hosting, "astrill") {
		t.Errorf("lookup --json = %s", out)
	}
	if code, out, _ := run("geoip", "lookup", "81.2.69.7"); code != exitOK || !strings.Contains(out, "Denver") || !strings.Contains(out, "AS7922") || strings.Contains(out, "hosting") {
		t.Errorf("lookup: exit %d\n%s", code, out)
	}
	if code, out, _ := run("geoip", "lookup", "10.0.0.1"); code != exitOK || !strings.Contains(out, "not in the databases") {
		t.Errorf("lookup of a private address: exit %d\n%s", code, out)
	}
	if code, _, errOut := run("geoip", "lookup", "not-an-ip"); code != exitUsage || !strings.Contains(errOut, "not an IP address") {
		t.Errorf("lookup of garbage: exit %d %s", code, errOut)
	}
	if code, out, _ := run("geoip", "status"); code != exitOK || !strings.Contains(out, "FarmwatchTest-City") || !strings.Contains(out, "2026-01-01") {
		t.Errorf("status: exit %d\n%s", code, out)
	}
	if err := os.WriteFile(dir+"/city.mmdb", []byte("truncated"), 0o600); err != nil {
		t.Fatal(err)
	}
	if code, _, errOut := run("geoip", "status"); code != exitFailure || !strings.Contains(errOut, "city.mmdb") {
		t.Errorf("status with a corrupt file: exit %d %s", code, errOut)
	}
}
