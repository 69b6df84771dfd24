package geo

import (
	"bufio"
	"bytes"
	_ "embed"
	"slices"
	"strings"
	"sync"
)

// The IANA time zone database's country tables (public domain), version
// 2025b, copied unchanged from the tzdata distribution
// (https://www.iana.org/time-zones; here from Debian's tzdata package):
// zone1970.tab lists for each zone every country that uses it since 1970,
// zone.tab one country per zone including zones that are links today, and
// links.zi holds the "L TARGET ALIAS" lines of tzdata.zi so that alias
// names (US/Eastern, Asia/Calcutta) resolve to their zone. Go's own
// embedded tzdata (time/tzdata) carries zone rules only, no countries.
var (
	//go:embed tzdata/zone1970.tab
	zone1970Tab []byte
	//go:embed tzdata/zone.tab
	zoneTab []byte
	//go:embed tzdata/links.zi
	linksZi []byte
)

var zoneCountries = sync.OnceValue(func() map[string][]string {
	m := map[string][]string{}
	add := func(zone string, ccs ...string) {
		for _, cc := range ccs {
			if !slices.Contains(m[zone], cc) {
				m[zone] = append(m[zone], cc)
			}
		}
	}
	for _, tab := range [][]byte{zone1970Tab, zoneTab} {
		sc := bufio.NewScanner(bytes.NewReader(tab))
		for sc.Scan() {
			line := sc.Text()
			if line == "" || line[0] == '#' {
				continue
			}
			f := strings.Split(line, "\t")
			if len(f) < 3 {
				continue
			}
			add(f[2], strings.Split(f[0], ",")...)
		}
	}
	// An alias takes its target's countries (and keeps its own from
	// zone.tab: Europe/Oslo is NO there and a link to Europe/Berlin).
	sc := bufio.NewScanner(bytes.NewReader(linksZi))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) == 3 && f[0] == "L" {
			add(f[2], m[f[1]]...)
		}
	}
	for _, ccs := range m {
		slices.Sort(ccs)
	}
	return m
})

// ZoneCountries returns the ISO 3166-1 alpha-2 codes of the countries that
// use an IANA time zone (aliases resolved), sorted; nil for a zone that
// no country uses (UTC, Etc/GMT+5) or an unknown name. The slice is shared:
// do not modify it.
func ZoneCountries(zone string) []string {
	return zoneCountries()[zone]
}
