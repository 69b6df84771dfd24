package store

// The geolocation history of devices (GeoState), written by StoreReport
// in the report's transaction and read by GeoState. SQL in the subset
// both dialects share, as in sqlstore.go.

import (
	"context"
	"encoding/json"
	"fmt"
)

const geoStateCols = `device_id, first_seen, last_seen, ip, country, city, has_coords, latitude, longitude, accuracy_km, time_zone, asn, as_org, active`

// applyGeo adds a report's GeoUpdate to its device's history; latest says
// whether the report has the device's highest seq (only then does it
// replace the latest fix and active rules).
func (s *sqlStore) applyGeo(ctx context.Context, q querier, deviceID string, g *GeoUpdate, latest bool) error {
	at := g.At
	if at.IsZero() {
		at = now()
	}
	active, err := jsonText(nonNil(unique(g.Active)))
	if err != nil {
		return err
	}
	set := `first_seen = CASE WHEN excluded.first_seen < geo_state.first_seen THEN excluded.first_seen ELSE geo_state.first_seen END,
		last_seen = CASE WHEN excluded.last_seen > geo_state.last_seen THEN excluded.last_seen ELSE geo_state.last_seen END`
	if latest {
		set += `, ip = excluded.ip, country = excluded.country, city = excluded.city, has_coords = excluded.has_coords,
			latitude = excluded.latitude, longitude = excluded.longitude, accuracy_km = excluded.accuracy_km,
			time_zone = excluded.time_zone, asn = excluded.asn, as_org = excluded.as_org, active = excluded.active`
	}
	f := g.Fix
	if _, err := q.exec(ctx, `INSERT INTO geo_state (`+geoStateCols+`) VALUES `+placeholders(1, 14)+`
		ON CONFLICT (device_id) DO UPDATE SET `+set,
		deviceID, s.t(at), s.t(at), f.IP, f.Country, f.City, f.HasCoords, f.Latitude, f.Longitude, f.AccuracyKM,
		f.TimeZone, int64(f.ASN), f.ASOrg, active); err != nil {
		return fmt.Errorf("geo state: %w", err)
	}
	type seen struct{ kind, value string }
	var rows []seen
	if f.Country != "" {
		rows = append(rows, seen{geoCountry, f.Country})
	}
	for _, n := range unique(g.Networks) {
		rows = append(rows, seen{geoNetwork, n})
	}
	if len(rows) == 0 {
		return nil
	}
	args := make([]any, 0, len(rows)*5)
	for _, r := range rows {
		args = append(args, deviceID, r.kind, r.value, s.t(at), s.t(at))
	}
	if _, err := q.exec(ctx, `INSERT INTO geo_seen (device_id, kind, value, first_seen, last_seen) VALUES `+placeholders(len(rows), 5)+`
		ON CONFLICT (device_id, kind, value) DO UPDATE SET
		first_seen = CASE WHEN excluded.first_seen < geo_seen.first_seen THEN excluded.first_seen ELSE geo_seen.first_seen END,
		last_seen = CASE WHEN excluded.last_seen > geo_seen.last_seen THEN excluded.last_seen ELSE geo_seen.last_seen END,
		reports = geo_seen.reports + 1`, args...); err != nil {
		return fmt.Errorf("geo history: %w", err)
	}
	return nil
}

func nonNil(v []string) []string {
	if v == nil {
		return []string{}
	}
	return v
}

// GeoState reads a device's geolocation history.
func (s *sqlStore) GeoState(ctx context.Context, deviceID string) (GeoState, error) {
	var g GeoState
	var first, last timeCol
	var asn int64
	var active []byte
	f := &g.Last
	err := s.b.queryRow(ctx, `SELECT `+geoStateCols+` FROM geo_state WHERE device_id = ?`, deviceID).Scan(
		&g.DeviceID, &first, &last, &f.IP, &f.Country, &f.City, &f.HasCoords, &f.Latitude, &f.Longitude, &f.AccuracyKM,
		&f.TimeZone, &asn, &f.ASOrg, &active)
	if err != nil {
		return GeoState{}, fmt.Errorf("geo state of %s: %w", deviceID, err)
	}
	g.FirstSeen, g.LastSeen, f.ASN = first.t, last.t, uint32(asn)
	if err := json.Unmarshal(active, &g.Active); err != nil {
		return GeoState{}, fmt.Errorf("geo state of %s: active rules: %w", deviceID, err)
	}
	if len(g.Active) == 0 {
		g.Active = nil
	}
	type seenRow struct {
		kind string
		s    GeoSeen
	}
	rows, err := collect(ctx, s.b, func(r row) (seenRow, error) {
		var v seenRow
		var first, last timeCol
		err := r.Scan(&v.kind, &v.s.Value, &first, &last, &v.s.Reports)
		v.s.FirstSeen, v.s.LastSeen = first.t, last.t
		return v, err
	}, `SELECT kind, value, first_seen, last_seen, reports FROM geo_seen WHERE device_id = ? ORDER BY kind, first_seen, value`, deviceID)
	if err != nil {
		return GeoState{}, fmt.Errorf("geo history of %s: %w", deviceID, err)
	}
	for _, r := range rows {
		switch r.kind {
		case geoCountry:
			g.Countries = append(g.Countries, r.s)
		case geoNetwork:
			g.Networks = append(g.Networks, r.s)
		}
	}
	return g, nil
}
