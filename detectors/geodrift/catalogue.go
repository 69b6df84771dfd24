package geodrift

import (
	_ "embed"
	"fmt"
	"path"
	"regexp"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"
)

//go:embed catalogue.yaml
var catalogueYAML []byte

// Categories of VPN clients. Only consumer clients raise findings.
const (
	// CategoryConsumer: commercial consumer VPN services, the kind used to
	// make a laptop abroad look local (Astrill, NordVPN …).
	CategoryConsumer = "consumer"
	// CategoryCorporate: enterprise remote-access VPNs (GlobalProtect …).
	CategoryCorporate = "corporate"
	// CategoryMesh: overlay networks (Tailscale, ZeroTier).
	CategoryMesh = "mesh"
	// CategoryGeneric: protocol clients used with company and consumer
	// servers alike (WireGuard, OpenVPN).
	CategoryGeneric = "generic"
)

var categories = []string{CategoryConsumer, CategoryCorporate, CategoryMesh, CategoryGeneric}

// Client is one catalogue entry. Identifiers are per OS ("windows",
// "darwin", "linux"); matching is case-insensitive. The same shape, in
// JSON, extends the catalogue from the policy (Policy.Clients).
type Client struct {
	ID       string `yaml:"id" json:"id"`
	Name     string `yaml:"name" json:"name"`
	Category string `yaml:"category" json:"category"`
	// ReportedIn names public reporting of laptop-farm use; such a client
	// is reported at high severity.
	ReportedIn []string `yaml:"reported_in" json:"reported_in,omitempty"`
	// Sources are where the identifiers come from (Catalogue.Sources keys).
	Sources []string `yaml:"sources" json:"sources,omitempty"`
	// Processes are executable base names; "*" and "?" match as in
	// path.Match.
	Processes map[string][]string `yaml:"processes" json:"processes,omitempty"`
	// Paths are install paths relative to the root, slash separated; "*"
	// matches one path element.
	Paths map[string][]string `yaml:"paths" json:"paths,omitempty"`
	// Software are uninstall-entry and app-bundle display names, matched
	// as a whole-word prefix.
	Software []string `yaml:"software" json:"software,omitempty"`
	// BundleIDs are macOS bundle identifiers, matched exactly.
	BundleIDs []string `yaml:"bundle_ids" json:"bundle_ids,omitempty"`
	// Packages are dpkg/rpm package names, matched exactly.
	Packages []string `yaml:"packages" json:"packages,omitempty"`
}

// Catalogue is the set of VPN clients Observe looks for.
type Catalogue struct {
	Version string            `yaml:"version"`
	Sources map[string]string `yaml:"sources"`
	Clients []Client          `yaml:"clients"`

	byID map[string]int
	// procs maps an OS to its exact (lower-case) process names and globs.
	procs map[string]map[string][]int
	globs map[string][]procGlob
	// byPackage and byBundle map lower-case identifiers to client indexes.
	byPackage map[string][]int
	byBundle  map[string][]int
}

type procGlob struct {
	pattern string
	client  int
}

var (
	defaultCatalogue = mustParseCatalogue(catalogueYAML)
	idRE             = regexp.MustCompile(`^[a-z][a-z0-9_]*$`)
	goosNames        = []string{"windows", "darwin", "linux"}
)

// DefaultCatalogue returns the embedded catalogue. It is shared and must
// not be modified; WithClients returns an extended copy.
func DefaultCatalogue() *Catalogue { return defaultCatalogue }

func mustParseCatalogue(data []byte) *Catalogue {
	c, err := ParseCatalogue(data)
	if err != nil {
		panic(fmt.Sprintf("geodrift: embedded catalogue: %v", err)) // caught by TestEmbeddedCatalogue
	}
	return c
}

// ParseCatalogue parses and validates a catalogue in the YAML form of
// catalogue.yaml.
func ParseCatalogue(data []byte) (*Catalogue, error) {
	c := &Catalogue{}
	if err := yaml.Unmarshal(data, c); err != nil {
		return nil, fmt.Errorf("parse VPN catalogue: %w", err)
	}
	if err := c.index(); err != nil {
		return nil, err
	}
	for _, cl := range c.Clients {
		for _, s := range cl.Sources {
			if _, ok := c.Sources[s]; !ok {
				return nil, fmt.Errorf("VPN catalogue: client %s cites unknown source %q", cl.ID, s)
			}
		}
	}
	return c, nil
}

// WithClients returns a copy of c with extra clients added (the policy's
// catalogue extensions). An id already in use is an error.
func (c *Catalogue) WithClients(extra []Client) (*Catalogue, error) {
	if len(extra) == 0 {
		return c, nil
	}
	n := &Catalogue{Version: c.Version + "+policy", Sources: c.Sources}
	n.Clients = append(slices.Clone(c.Clients), extra...)
	if err := n.index(); err != nil {
		return nil, err
	}
	return n, nil
}

// Client returns the client with the given id.
func (c *Catalogue) Client(id string) (Client, bool) {
	i, ok := c.byID[id]
	if !ok {
		return Client{}, false
	}
	return c.Clients[i], true
}

// validate checks one entry.
func (cl *Client) validate() error {
	if !idRE.MatchString(cl.ID) {
		return fmt.Errorf("client id %q: want lower-case letters, digits and _", cl.ID)
	}
	if strings.TrimSpace(cl.Name) == "" {
		return fmt.Errorf("client %s: empty name", cl.ID)
	}
	if !slices.Contains(categories, cl.Category) {
		return fmt.Errorf("client %s: category %q is not one of %s", cl.ID, cl.Category, strings.Join(categories, ", "))
	}
	for _, m := range []map[string][]string{cl.Processes, cl.Paths} {
		for goos, list := range m {
			if !slices.Contains(goosNames, goos) {
				return fmt.Errorf("client %s: unknown OS %q", cl.ID, goos)
			}
			for _, p := range list {
				if strings.TrimSpace(p) == "" {
					return fmt.Errorf("client %s: empty identifier for %s", cl.ID, goos)
				}
				if _, err := path.Match(strings.ToLower(p), ""); err != nil {
					return fmt.Errorf("client %s: bad pattern %q: %w", cl.ID, p, err)
				}
			}
		}
	}
	for goos, list := range cl.Paths {
		for _, p := range list {
			if strings.HasPrefix(p, "/") || strings.Contains(p, `\`) || path.Clean(p) != p {
				return fmt.Errorf("client %s: path %q for %s must be relative, slash separated and clean", cl.ID, p, goos)
			}
		}
	}
	if len(cl.Processes)+len(cl.Paths)+len(cl.Software)+len(cl.BundleIDs)+len(cl.Packages) == 0 {
		return fmt.Errorf("client %s: no identifiers", cl.ID)
	}
	return nil
}

// index validates every entry and builds the lookup tables.
func (c *Catalogue) index() error {
	c.byID = map[string]int{}
	c.procs = map[string]map[string][]int{}
	c.globs = map[string][]procGlob{}
	c.byPackage = map[string][]int{}
	c.byBundle = map[string][]int{}
	if len(c.Clients) == 0 {
		return fmt.Errorf("VPN catalogue: no clients")
	}
	for i := range c.Clients {
		cl := &c.Clients[i]
		if err := cl.validate(); err != nil {
			return fmt.Errorf("VPN catalogue: %w", err)
		}
		if _, dup := c.byID[cl.ID]; dup {
			return fmt.Errorf("VPN catalogue: client id %q used twice", cl.ID)
		}
		c.byID[cl.ID] = i
		for goos, names := range cl.Processes {
			if c.procs[goos] == nil {
				c.procs[goos] = map[string][]int{}
			}
			for _, n := range names {
				n = strings.ToLower(n)
				if strings.ContainsAny(n, "*?[") {
					c.globs[goos] = append(c.globs[goos], procGlob{pattern: n, client: i})
					continue
				}
				c.procs[goos][n] = appendOnce(c.procs[goos][n], i)
			}
		}
		for _, p := range cl.Packages {
			c.byPackage[strings.ToLower(p)] = appendOnce(c.byPackage[strings.ToLower(p)], i)
		}
		for _, b := range cl.BundleIDs {
			c.byBundle[strings.ToLower(b)] = appendOnce(c.byBundle[strings.ToLower(b)], i)
		}
	}
	return nil
}

func appendOnce(s []int, i int) []int {
	if slices.Contains(s, i) {
		return s
	}
	return append(s, i)
}

// processClients returns the clients whose process names match the
// executable base name on goos.
func (c *Catalogue) processClients(goos, base string) []int {
	base = strings.ToLower(base)
	out := c.procs[goos][base]
	for _, g := range c.globs[goos] {
		if ok, _ := path.Match(g.pattern, base); ok {
			out = appendOnce(slices.Clip(out), g.client)
		}
	}
	return out
}

// softwareClients returns the clients one of whose software names is a
// whole-word prefix of name ("NordVPN" matches "NordVPN 7.2" but not
// "NordVPNTeams").
func (c *Catalogue) softwareClients(name string) []int {
	name = strings.ToLower(strings.TrimSpace(name))
	var out []int
	for i, cl := range c.Clients {
		for _, s := range cl.Software {
			s = strings.ToLower(s)
			if name == s || strings.HasPrefix(name, s) && !isWordByte(name[len(s)]) {
				out = appendOnce(out, i)
			}
		}
	}
	return out
}

func isWordByte(b byte) bool {
	return b >= 'a' && b <= 'z' || b >= '0' && b <= '9' || b == '_' || b >= 0x80
}
