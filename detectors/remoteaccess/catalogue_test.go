package remoteaccess

import (
	"strings"
	"testing"
)

// requiredTools are the tools named in the threat reporting and tool
// catalogues the project builds on (signals.md §1–3); each must stay.
var requiredTools = []string{
	"anydesk", "teamviewer", "chrome_remote_desktop", "rustdesk", "logmein", "goto_resolve",
	"jump_desktop", "anyviewer", "splashtop", "parsec", "screenconnect", "zoho_assist",
	"hoptodesk", "remote_utilities", "remotepc", "supremo", "aeroadmin", "ammyy_admin",
	"ultraviewer", "dwservice", "meshcentral", "nomachine", "getscreen", "simplehelp",
	"atera", "action1", "radmin", "todesk", "sunlogin", "quick_assist",
	"realvnc", "tightvnc", "ultravnc", "tigervnc", "x11vnc", "xrdp",
	"tailscale", "zerotier", "netbird", "ngrok",
}

func TestEmbeddedCatalogue(t *testing.T) {
	t.Parallel()
	c, err := ParseCatalogue(catalogueYAML)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(c.Tools); n < 60 {
		t.Errorf("catalogue has %d tools, want at least 60", n)
	}
	for _, id := range requiredTools {
		if _, ok := c.Tool(id); !ok {
			t.Errorf("catalogue lacks %q", id)
		}
	}
	for _, tool := range c.Tools {
		if tool.Category == CategoryTunnel {
			continue
		}
		// Every remote-control tool must be findable on at least one OS
		// by a running process or a service, not only by install traces.
		if len(tool.Processes)+len(tool.Services) == 0 {
			t.Errorf("%s: no process or service identifier", tool.ID)
		}
	}
	// Clients and inbox programs must never be catalogued as hosts.
	for _, goos := range []string{"windows", "darwin", "linux"} {
		for _, client := range []string{"mstsc.exe", "vncviewer", "vncviewer.exe", "chrome.exe", "zoom.exe", "teams.exe", "slack.exe", "ssh", "sshd", "msmpeng.exe"} {
			if ts := c.idx[goos].process[client]; len(ts) > 0 {
				t.Errorf("%s process %q is catalogued as host of %s", goos, client, ts[0].ID)
			}
		}
	}
}

func TestParseCatalogueRejects(t *testing.T) {
	t.Parallel()
	head := "version: x\nsources: {s: src}\ntools:\n"
	cases := map[string]string{
		"no version":     "sources: {s: src}\ntools: []\n",
		"bad id":         head + "  - {id: Any-Desk, name: A, category: rmm, sources: [s], processes: {windows: [a.exe]}}\n",
		"duplicate id":   head + "  - {id: a, name: A, category: rmm, sources: [s], processes: {windows: [a.exe]}}\n  - {id: a, name: B, category: rmm, sources: [s], processes: {windows: [b.exe]}}\n",
		"bad category":   head + "  - {id: a, name: A, category: games, sources: [s], processes: {windows: [a.exe]}}\n",
		"unknown source": head + "  - {id: a, name: A, category: rmm, sources: [nope], processes: {windows: [a.exe]}}\n",
		"unknown os":     head + "  - {id: a, name: A, category: rmm, sources: [s], processes: {beos: [a]}}\n",
		"no identifier":  head + "  - {id: a, name: A, category: rmm, sources: [s]}\n",
		"absolute path":  head + "  - {id: a, name: A, category: rmm, sources: [s], paths: {linux: [/opt/a]}}\n",
		"shared domain":  head + "  - {id: a, name: A, category: rmm, sources: [s], processes: {windows: [a.exe]}, domains: ['*.google.com']}\n",
		"local domain":   head + "  - {id: a, name: A, category: rmm, sources: [s], processes: {windows: [a.exe]}, domains: ['*.local']}\n",
		"bad port":       head + "  - {id: a, name: A, category: rmm, sources: [s], processes: {windows: [a.exe]}, ports: [{port: 70000, proto: tcp}]}\n",
		"unknown field":  head + "  - {id: a, name: A, category: rmm, sources: [s], processes: {windows: [a.exe]}, colour: red}\n",
	}
	for name, doc := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			if _, err := ParseCatalogue([]byte(doc)); err == nil {
				t.Errorf("ParseCatalogue accepted %s:\n%s", name, doc)
			} else if !strings.HasPrefix(err.Error(), "catalogue: ") {
				t.Errorf("error %q does not name the catalogue", err)
			}
		})
	}
}
