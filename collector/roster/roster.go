// Package roster reads the owner roster: who owns which laptop and where
// that person is registered to live. The CSV has a header row with these
// columns (any order; devices optional):
//
//	owner,display_name,city,country,latitude,longitude,time_zone,devices
//
// owner is the owner's unique id (e-mail); country an ISO 3166-1 alpha-2
// code; latitude/longitude decimal degrees of the registered home;
// time_zone an IANA name; devices a ";"-separated list of hostnames or
// device ids assigned to the owner. Every bad row is reported with its
// line number and nothing is imported unless every row is good.
package roster

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/farmwatch/farmwatch/collector/store"
)

// Columns are the roster's columns; those marked required must be present.
var Columns = []struct {
	Name     string
	Required bool
}{
	{"owner", true}, {"display_name", false}, {"city", false}, {"country", true},
	{"latitude", true}, {"longitude", true}, {"time_zone", false}, {"devices", false},
}

// MaxRows bounds one import.
const MaxRows = 1_000_000

// Parse reads a roster CSV. The error lists every bad row (line numbers
// are 1-based and count the header).
func Parse(r io.Reader) ([]store.RosterEntry, error) {
	cr := csv.NewReader(r)
	cr.TrimLeadingSpace = true
	cr.FieldsPerRecord = -1
	header, err := cr.Read()
	if errors.Is(err, io.EOF) {
		return nil, errors.New("roster: the file is empty (want a header row: owner,country,latitude,longitude,…)")
	}
	if err != nil {
		return nil, fmt.Errorf("roster: line 1: %w", err)
	}
	col := map[string]int{}
	for i, h := range header {
		h = strings.ToLower(strings.TrimSpace(strings.TrimPrefix(h, "\ufeff")))
		known := false
		for _, c := range Columns {
			known = known || c.Name == h
		}
		if !known {
			return nil, fmt.Errorf("roster: line 1: unknown column %q", h)
		}
		if _, dup := col[h]; dup {
			return nil, fmt.Errorf("roster: line 1: column %q twice", h)
		}
		col[h] = i
	}
	for _, c := range Columns {
		if _, ok := col[c.Name]; c.Required && !ok {
			return nil, fmt.Errorf("roster: line 1: missing column %q", c.Name)
		}
	}
	var (
		out    []store.RosterEntry
		errs   []error
		owners = map[string]int{}
	)
	for {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		line, _ := cr.FieldPos(0)
		if err != nil {
			errs = append(errs, fmt.Errorf("line %d: %w", line, err))
			if len(errs) > 50 {
				break
			}
			continue
		}
		if len(out) >= MaxRows {
			return nil, fmt.Errorf("roster: more than %d rows", MaxRows)
		}
		get := func(name string) string {
			if i, ok := col[name]; ok && i < len(rec) {
				return strings.TrimSpace(rec[i])
			}
			return ""
		}
		e, rowErrs := entry(get)
		if len(rowErrs) == 0 {
			if prev, dup := owners[strings.ToLower(e.Owner)]; dup {
				rowErrs = append(rowErrs, fmt.Errorf("owner %q already on line %d", e.Owner, prev))
			}
		}
		if len(rowErrs) > 0 {
			for _, err := range rowErrs {
				errs = append(errs, fmt.Errorf("line %d: %w", line, err))
			}
			if len(errs) > 50 {
				errs = append(errs, errors.New("… stopping after 50 errors"))
				break
			}
			continue
		}
		owners[strings.ToLower(e.Owner)] = line
		out = append(out, e)
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("roster: nothing imported; fix these rows:\n%w", errors.Join(errs...))
	}
	if len(out) == 0 {
		return nil, errors.New("roster: no rows after the header")
	}
	return out, nil
}

func entry(get func(string) string) (store.RosterEntry, []error) {
	e := store.RosterEntry{
		Owner: get("owner"), DisplayName: get("display_name"), City: get("city"),
		Country: strings.ToUpper(get("country")), TimeZone: get("time_zone"),
	}
	var errs []error
	if e.Owner == "" {
		errs = append(errs, errors.New("owner is empty"))
	}
	if len(e.Country) != 2 || strings.Trim(e.Country, "ABCDEFGHIJKLMNOPQRSTUVWXYZ") != "" {
		errs = append(errs, fmt.Errorf("country %q is not an ISO 3166-1 alpha-2 code", get("country")))
	}
	var err error
	if e.Latitude, err = coord(get("latitude"), 90); err != nil {
		errs = append(errs, fmt.Errorf("latitude: %w", err))
	}
	if e.Longitude, err = coord(get("longitude"), 180); err != nil {
		errs = append(errs, fmt.Errorf("longitude: %w", err))
	}
	if e.TimeZone != "" {
		if _, err := time.LoadLocation(e.TimeZone); err != nil {
			errs = append(errs, fmt.Errorf("time_zone %q is not an IANA zone", e.TimeZone))
		}
	}
	for _, d := range strings.Split(get("devices"), ";") {
		if d = strings.TrimSpace(d); d != "" {
			e.Devices = append(e.Devices, d)
		}
	}
	return e, errs
}

func coord(s string, limit float64) (float64, error) {
	v, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return 0, fmt.Errorf("%q is not a number", s)
	}
	if v < -limit || v > limit {
		return 0, fmt.Errorf("%v is outside ±%v", v, limit)
	}
	return v, nil
}
