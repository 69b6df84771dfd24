package remoteaccess

import (
	_ "embed"
	"fmt"
	"path"
	"regexp"
	"sort"
	"strings"

	"gopkg.in/yaml.v3"
)

//go:embed catalogue.yaml
var catalogueYAML []byte

// Category groups tools by what they let a remote person do.
type Category string

// Categories, roughly by how much control they give.
const (
	// CategoryRemoteControl: interactive remote desktop / remote support
	// tools (AnyDesk, TeamViewer …).
	CategoryRemoteControl Category = "remote_control"
	// CategoryRMM: remote monitoring and management agents with remote
	// control (Atera, ScreenConnect …).
	CategoryRMM Category = "rmm"
	// CategoryVNC: VNC servers.
	CategoryVNC Category = "vnc"
	// CategoryRDPServer: third-party RDP servers (xrdp).
	CategoryRDPServer Category = "rdp_server"
	// CategoryTunnel: tunnels and mesh overlays that expose the host
	// (ngrok, Tailscale …); lower severity.
	CategoryTunnel Category = "tunnel"
)

// Tool is one catalogue entry. Identifiers are per OS ("windows", "darwin",
// "linux"); matching is case-insensitive.
type Tool struct {
	ID       string   `yaml:"id"`
	Name     string   `yaml:"name"`
	Category Category `yaml:"category"`
	// ReportedIn names public reports of laptop-farm / DPRK IT-worker use.
	ReportedIn []string `yaml:"reported_in"`
	// Sources are where the identifiers come from (keys of Catalogue.Sources).
	Sources []string `yaml:"sources"`
	// Processes are executable base names of the host side.
	Processes map[string][]string `yaml:"processes"`
	// Services are Windows service names, launchd labels, systemd units.
	Services map[string][]string `yaml:"services"`
	// Paths are install paths relative to the filesystem root, slash
	// separated; "*" matches one path element (Users/*/AppData/…).
	Paths map[string][]string `yaml:"paths"`
	// Software are display names of installed software (Windows
	// uninstall entries, app bundle names), matched as a whole-word prefix.
	Software []string `yaml:"software"`
	// BundleIDs are macOS bundle identifiers, matched exactly.
	BundleIDs []string `yaml:"bundle_ids"`
	// Packages are dpkg/rpm package names.
	Packages []string `yaml:"packages"`
	// Signers are code-signing subject names.
	Signers []string `yaml:"signers"`
	// Ports are the default listening ports of the host side.
	Ports []Port `yaml:"ports"`
	// Domains are control/relay domains, for the collector and SIEM;
	// shared domains (google.com …) are never listed.
	Domains []string `yaml:"domains"`
	// Notes explain traps (client vs host, shared binaries).
	Notes string `yaml:"notes"`
}

// Port is a default port of a tool.
type Port struct {
	Port  int    `yaml:"port"`
	Proto string `yaml:"proto"`
}

// Catalogue is the embedded tool catalogue.
type Catalogue struct {
	Version string            `yaml:"version"`
	Sources map[string]string `yaml:"sources"`
	Tools   []Tool            `yaml:"tools"`

	byID       map[string]*Tool
	byPackage  map[string][]*Tool // dpkg/rpm names, lower case
	byBundle   map[string][]*Tool // macOS bundle ids, lower case
	bySoftware []softwareRule
	idx        map[string]*osIndex
}

// softwareRule matches a display name by whole-word prefix.
type softwareRule struct {
	prefix string // lower case
	tool   *Tool
}

// osIndex holds lower-cased lookup tables for one OS.
type osIndex struct {
	process map[string][]*Tool
	service map[string][]*Tool
	// exactPaths holds install paths without wildcards, and those whose
	// only wildcard is the whole second element (Users/*/…), by pattern.
	exactPaths map[string][]*Tool
	// wildFirst holds the first elements of the Users/*/… patterns.
	wildFirst map[string]bool
	// globPaths holds the other wildcard paths.
	globPaths []pathRule
}

type pathRule struct {
	pattern string // lower-case, slash separated
	literal string // the pattern up to its first wildcard
	tool    *Tool
}

var (
	idRE      = regexp.MustCompile(`^[a-z0-9][a-z0-9_]*$`)
	knownOS   = map[string]bool{"windows": true, "darwin": true, "linux": true}
	knownCats = map[Category]bool{CategoryRemoteControl: true, CategoryRMM: true, CategoryVNC: true, CategoryRDPServer: true, CategoryTunnel: true}
	// sharedDomains are never valid relay domains: matching them flags
	// every browser (the LOLRMM false-positive traps).
	sharedDomains = []string{"google.com", "googleapis.com", "microsoft.com", "live.com", "apple.com", "amazonaws.com", "cloudflare.com", "github.com", "local"}
)

// ParseCatalogue decodes and validates a catalogue, then builds its indexes.
func ParseCatalogue(data []byte) (*Catalogue, error) {
	var c Catalogue
	dec := yaml.NewDecoder(strings.NewReader(string(data)))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil {
		return nil, fmt.Errorf("catalogue: %w", err)
	}
	if err := c.validate(); err != nil {
		return nil, fmt.Errorf("catalogue: %w", err)
	}
	c.index()
	return &c, nil
}

func (c *Catalogue) validate() error {
	if c.Version == "" {
		return fmt.Errorf("no version")
	}
	seen := map[string]bool{}
	for i := range c.Tools {
		t := &c.Tools[i]
		switch {
		case !idRE.MatchString(t.ID):
			return fmt.Errorf("tool %d: bad id %q", i, t.ID)
		case seen[t.ID]:
			return fmt.Errorf("tool %s: duplicate id", t.ID)
		case t.Name == "":
			return fmt.Errorf("tool %s: no name", t.ID)
		case !knownCats[t.Category]:
			return fmt.Errorf("tool %s: unknown category %q", t.ID, t.Category)
		case len(t.Sources) == 0:
			return fmt.Errorf("tool %s: no source", t.ID)
		}
		seen[t.ID] = true
		for _, s := range t.Sources {
			if _, ok := c.Sources[s]; !ok {
				return fmt.Errorf("tool %s: source %q not in sources", t.ID, s)
			}
		}
		ids := 0
		for _, m := range []map[string][]string{t.Processes, t.Services, t.Paths} {
			for goos, vals := range m {
				if !knownOS[goos] {
					return fmt.Errorf("tool %s: unknown OS %q", t.ID, goos)
				}
				for _, v := range vals {
					if strings.TrimSpace(v) == "" {
						return fmt.Errorf("tool %s: empty identifier for %s", t.ID, goos)
					}
				}
				ids += len(vals)
			}
		}
		for goos, ps := range t.Paths {
			for _, p := range ps {
				if strings.HasPrefix(p, "/") || strings.Contains(p, `\`) || strings.Contains(p, "..") {
					return fmt.Errorf("tool %s: %s path %q must be relative and slash separated", t.ID, goos, p)
				}
				if _, err := path.Match(p, ""); err != nil {
					return fmt.Errorf("tool %s: %s path %q: %w", t.ID, goos, p, err)
				}
			}
		}
		if ids+len(t.Software)+len(t.BundleIDs)+len(t.Packages) == 0 {
			return fmt.Errorf("tool %s: no identifier to match", t.ID)
		}
		for _, d := range t.Domains {
			dd := strings.TrimPrefix(strings.ToLower(d), "*.")
			for _, s := range sharedDomains {
				if dd == s {
					return fmt.Errorf("tool %s: shared domain %q would match unrelated traffic", t.ID, d)
				}
			}
		}
		for _, p := range t.Ports {
			if p.Port <= 0 || p.Port > 65535 || (p.Proto != "tcp" && p.Proto != "udp") {
				return fmt.Errorf("tool %s: bad port %+v", t.ID, p)
			}
		}
	}
	return nil
}

func (c *Catalogue) index() {
	c.byID = make(map[string]*Tool, len(c.Tools))
	c.byPackage = map[string][]*Tool{}
	c.byBundle = map[string][]*Tool{}
	c.idx = map[string]*osIndex{}
	for goos := range knownOS {
		c.idx[goos] = &osIndex{process: map[string][]*Tool{}, service: map[string][]*Tool{}, exactPaths: map[string][]*Tool{}, wildFirst: map[string]bool{}}
	}
	for i := range c.Tools {
		t := &c.Tools[i]
		c.byID[t.ID] = t
		for goos, names := range t.Processes {
			for _, n := range names {
				k := strings.ToLower(n)
				c.idx[goos].process[k] = appendTool(c.idx[goos].process[k], t)
			}
		}
		for goos, names := range t.Services {
			for _, n := range names {
				k := strings.ToLower(n)
				c.idx[goos].service[k] = appendTool(c.idx[goos].service[k], t)
			}
		}
		for goos, ps := range t.Paths {
			for _, p := range ps {
				ix, pat := c.idx[goos], strings.ToLower(path.Clean(p))
				switch {
				case simpleWildcard(pat):
					ix.exactPaths[pat] = appendTool(ix.exactPaths[pat], t)
					if first, rest, _ := strings.Cut(pat, "/"); strings.HasPrefix(rest, "*") {
						ix.wildFirst[first] = true
					}
				default:
					lit := pat[:strings.IndexAny(pat, "*?[")]
					ix.globPaths = append(ix.globPaths, pathRule{pattern: pat, literal: lit, tool: t})
				}
			}
		}
		for _, p := range t.Packages {
			k := strings.ToLower(p)
			c.byPackage[k] = appendTool(c.byPackage[k], t)
		}
		for _, b := range t.BundleIDs {
			k := strings.ToLower(b)
			c.byBundle[k] = appendTool(c.byBundle[k], t)
		}
		for _, s := range t.Software {
			c.bySoftware = append(c.bySoftware, softwareRule{prefix: strings.ToLower(s), tool: t})
		}
	}
	for _, ix := range c.idx {
		sort.Slice(ix.globPaths, func(a, b int) bool { return ix.globPaths[a].pattern < ix.globPaths[b].pattern })
	}
}

// simpleWildcard reports whether pattern has no wildcard, or only "*" as
// its whole second element.
func simpleWildcard(pattern string) bool {
	if !strings.ContainsAny(pattern, "*?[") {
		return true
	}
	el := strings.Split(pattern, "/")
	if len(el) < 2 || el[1] != "*" {
		return false
	}
	return !strings.ContainsAny(strings.Join(append(el[:1:1], el[2:]...), "/"), "*?[")
}

func appendTool(ts []*Tool, t *Tool) []*Tool {
	for _, x := range ts {
		if x == t {
			return ts
		}
	}
	return append(ts, t)
}

// Tool returns the entry with the given id.
func (c *Catalogue) Tool(id string) (*Tool, bool) {
	t, ok := c.byID[id]
	return t, ok
}

var defaultCatalogue = func() *Catalogue {
	c, err := ParseCatalogue(catalogueYAML)
	if err != nil {
		panic(err) // the embedded catalogue is checked by tests
	}
	return c
}()

// DefaultCatalogue returns the embedded catalogue.
func DefaultCatalogue() *Catalogue { return defaultCatalogue }
