package geo

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/netip"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/oschwald/maxminddb-golang/v2"
	"go.uber.org/zap"
)

// Location is what the databases say about one address. Fields a
// database does not have (or a missing database) stay zero.
type Location struct {
	IP netip.Addr `json:"ip"`
	// Country is the ISO 3166-1 alpha-2 code of the country the address
	// is located in.
	Country string `json:"country,omitempty"`
	City    string `json:"city,omitempty"`
	// HasCoords is true when Latitude/Longitude were in the record.
	HasCoords bool    `json:"has_coords"`
	Latitude  float64 `json:"latitude,omitempty"`
	Longitude float64 `json:"longitude,omitempty"`
	// AccuracyKM is MaxMind's accuracy radius: the true position is
	// within it with about 67% confidence.
	AccuracyKM float64 `json:"accuracy_radius_km,omitempty"`
	TimeZone   string  `json:"time_zone,omitempty"`
	ASN        uint32  `json:"asn,omitempty"`
	ASOrg      string  `json:"as_org,omitempty"`
}

// Located reports whether the address has a country or a position.
func (l Location) Located() bool { return l.Country != "" || l.HasCoords }

// cityRecord is the part of a GeoIP2/GeoLite2 City record the rules use;
// decoding only these fields keeps a lookup to a few microseconds.
type cityRecord struct {
	City struct {
		Names struct {
			EN string `maxminddb:"en"`
		} `maxminddb:"names"`
	} `maxminddb:"city"`
	Country struct {
		ISOCode string `maxminddb:"iso_code"`
	} `maxminddb:"country"`
	Location struct {
		Latitude       *float64 `maxminddb:"latitude"`
		Longitude      *float64 `maxminddb:"longitude"`
		AccuracyRadius uint16   `maxminddb:"accuracy_radius"`
		TimeZone       string   `maxminddb:"time_zone"`
	} `maxminddb:"location"`
}

type asnRecord struct {
	Number uint32 `maxminddb:"autonomous_system_number"`
	Org    string `maxminddb:"autonomous_system_organization"`
}

// Database kinds.
const (
	KindCity = "city"
	KindASN  = "asn"
)

// DBStatus describes one configured database file.
type DBStatus struct {
	Kind string `json:"kind"`
	Path string `json:"path,omitempty"`
	// Loaded is false when no file is configured.
	Loaded       bool      `json:"loaded"`
	DatabaseType string    `json:"database_type,omitempty"`
	BuildTime    time.Time `json:"build_time,omitzero"`
	LoadedAt     time.Time `json:"loaded_at,omitzero"`
}

// loaded is one opened database file. The file is read into memory, not
// mapped: a reload swaps the pointer and the old reader is left to the
// garbage collector, so a lookup in flight never reads unmapped memory.
type loaded struct {
	r       *maxminddb.Reader
	status  DBStatus
	modTime time.Time
	size    int64
}

// DB is the City and ASN databases. Either may be absent: lookups then
// leave its fields zero. Safe for concurrent use; Reload swaps files in
// atomically.
type DB struct {
	cityPath, asnPath string
	city, asn         atomic.Pointer[loaded]
	mu                sync.Mutex // serialises Reload
}

// Open opens the City and ASN databases ("" leaves one out). A file that
// is missing, unreadable, corrupt or of the wrong kind is an error naming
// it; the whole file is verified, so a truncated download fails here and
// not at the first lookup.
func Open(cityPath, asnPath string) (*DB, error) {
	d := &DB{cityPath: cityPath, asnPath: asnPath}
	var errs []error
	for _, p := range []struct {
		kind, path string
		into       *atomic.Pointer[loaded]
	}{{KindCity, cityPath, &d.city}, {KindASN, asnPath, &d.asn}} {
		if p.path == "" {
			continue
		}
		l, err := load(p.kind, p.path, time.Now())
		if err != nil {
			errs = append(errs, err)
			continue
		}
		p.into.Store(l)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return d, nil
}

// load reads and verifies one database file.
func load(kind, path string, now time.Time) (*loaded, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("geoip %s database: %w", kind, err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("geoip %s database: %w", kind, err)
	}
	r, err := maxminddb.OpenBytes(data)
	if err != nil {
		return nil, fmt.Errorf("geoip %s database %s: not a MaxMind DB file: %w", kind, path, err)
	}
	if err := r.Verify(); err != nil {
		return nil, fmt.Errorf("geoip %s database %s: corrupt: %w", kind, path, err)
	}
	t := r.Metadata.DatabaseType
	ok := false
	switch kind {
	case KindCity:
		ok = strings.Contains(t, "City") || strings.Contains(t, "Enterprise")
	case KindASN:
		ok = strings.Contains(t, "ASN") || strings.Contains(t, "ISP")
	}
	if !ok {
		want := "a City database (GeoLite2-City, GeoIP2-City)"
		if kind == KindASN {
			want = "an ASN database (GeoLite2-ASN, GeoIP2-ISP)"
		}
		return nil, fmt.Errorf("geoip %s database %s: it is a %q database; want %s", kind, path, t, want)
	}
	return &loaded{
		r: r, modTime: fi.ModTime(), size: fi.Size(),
		status: DBStatus{Kind: kind, Path: path, Loaded: true, DatabaseType: t, BuildTime: r.Metadata.BuildTime().UTC(), LoadedAt: now.UTC()},
	}, nil
}

// Status describes both databases (Loaded false for one not configured).
func (d *DB) Status() []DBStatus {
	out := make([]DBStatus, 0, 2)
	for _, p := range []struct {
		kind, path string
		l          *loaded
	}{{KindCity, d.cityPath, d.city.Load()}, {KindASN, d.asnPath, d.asn.Load()}} {
		if p.l == nil {
			out = append(out, DBStatus{Kind: p.kind, Path: p.path})
			continue
		}
		out = append(out, p.l.status)
	}
	return out
}

// HasCity and HasASN report which databases are loaded.
func (d *DB) HasCity() bool { return d != nil && d.city.Load() != nil }

// HasASN reports whether the ASN database is loaded.
func (d *DB) HasASN() bool { return d != nil && d.asn.Load() != nil }

// Lookup locates an address. An address neither database knows (private
// ranges, a missing database) gives a Location with only IP set; err is
// non-nil only for a record the database cannot decode.
func (d *DB) Lookup(ip netip.Addr) (Location, error) {
	ip = ip.Unmap()
	loc := Location{IP: ip}
	if d == nil {
		return loc, nil
	}
	var errs []error
	if l := d.city.Load(); l != nil {
		var rec cityRecord
		res := l.r.Lookup(ip)
		if err := res.Decode(&rec); err != nil {
			errs = append(errs, fmt.Errorf("geoip city lookup %s: %w", ip, err))
		} else if res.Found() {
			loc.Country, loc.City, loc.TimeZone = rec.Country.ISOCode, rec.City.Names.EN, rec.Location.TimeZone
			loc.AccuracyKM = float64(rec.Location.AccuracyRadius)
			if la, lo := rec.Location.Latitude, rec.Location.Longitude; la != nil && lo != nil && validCoords(*la, *lo) {
				loc.HasCoords, loc.Latitude, loc.Longitude = true, *la, *lo
			}
		}
	}
	if l := d.asn.Load(); l != nil {
		var rec asnRecord
		res := l.r.Lookup(ip)
		if err := res.Decode(&rec); err != nil {
			errs = append(errs, fmt.Errorf("geoip asn lookup %s: %w", ip, err))
		} else if res.Found() {
			loc.ASN, loc.ASOrg = rec.Number, rec.Org
		}
	}
	return loc, errors.Join(errs...)
}

// Reload reopens each database whose file changed (modification time or
// size) since it was loaded. A changed file that does not open keeps the
// previous one in service and is reported in err; changed lists the kinds
// swapped in. MaxMind's geoipupdate replaces the file by rename, so a
// half-written file is not seen; a copy in place may be, and is then
// retried at the next Reload.
func (d *DB) Reload(now time.Time) (changed []string, err error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	var errs []error
	for _, p := range []struct {
		kind, path string
		into       *atomic.Pointer[loaded]
	}{{KindCity, d.cityPath, &d.city}, {KindASN, d.asnPath, &d.asn}} {
		if p.path == "" {
			continue
		}
		fi, err := os.Stat(p.path)
		if err != nil {
			errs = append(errs, fmt.Errorf("geoip %s database: %w", p.kind, err))
			continue
		}
		if cur := p.into.Load(); cur != nil && fi.ModTime().Equal(cur.modTime) && fi.Size() == cur.size {
			continue
		}
		l, err := load(p.kind, p.path, now)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		p.into.Store(l)
		changed = append(changed, p.kind)
	}
	return changed, errors.Join(errs...)
}

// Watch calls Reload every interval until ctx ends, logging what it
// swapped in or why it kept the previous file. onReload, when not nil,
// is called after each Reload that changed something or failed.
func (d *DB) Watch(ctx context.Context, interval time.Duration, log *zap.Logger, onReload func(changed []string, err error)) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			changed, err := d.Reload(now)
			for _, k := range changed {
				l := d.loadedKind(k)
				log.Info("geoip database reloaded", zap.String("kind", k), zap.String("path", l.status.Path),
					zap.String("type", l.status.DatabaseType), zap.Time("build_time", l.status.BuildTime))
			}
			if err != nil {
				log.Warn("geoip database not reloaded; the previous one stays in service", zap.Error(err))
			}
			if onReload != nil && (len(changed) > 0 || err != nil) {
				onReload(changed, err)
			}
		}
	}
}

func (d *DB) loadedKind(kind string) *loaded {
	if kind == KindCity {
		return d.city.Load()
	}
	return d.asn.Load()
}

// roundKM rounds a distance for evidence.
func roundKM(v float64) float64 { return math.Round(v) }
