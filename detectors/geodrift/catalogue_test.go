package geodrift

import (
	"slices"
	"testing"
)

func TestEmbeddedCatalogue(t *testing.T) {
	t.Parallel()
	c := DefaultCatalogue()
	astrill, ok := c.Client("astrill")
	if !ok || c.Clients[0].ID != "astrill" || astrill.Category != CategoryConsumer || len(astrill.ReportedIn) == 0 {
		t.Errorf("Astrill must come first, as a reported consumer VPN: %+v", astrill)
	}
	for _, id := range []string{"nordvpn", "expressvpn", "surfshark", "protonvpn", "private_internet_access", "cyberghost",
		"mullvad", "windscribe", "hideme", "ipvanish", "tunnelbear", "hotspot_shield", "psiphon", "lantern"} {
		if cl, ok := c.Client(id); !ok || cl.Category != CategoryConsumer {
			t.Errorf("consumer VPN %s missing or miscategorised: %+v", id, cl)
		}
	}
	for id, cat := range map[string]string{"globalprotect": CategoryCorporate, "cisco_secure_client": CategoryCorporate,
		"zscaler": CategoryCorporate, "forticlient": CategoryCorporate, "tailscale": CategoryMesh, "wireguard": CategoryGeneric} {
		if cl, ok := c.Client(id); !ok || cl.Category != cat {
			t.Errorf("%s: %+v, want category %s", id, cl, cat)
		}
	}
	for _, cl := range c.Clients {
		if len(cl.Sources) == 0 {
			t.Errorf("%s cites no source", cl.ID)
		}
	}
}

func TestCatalogueMatching(t *testing.T) {
	t.Parallel()
	c := DefaultCatalogue()
	ids := func(is []int) []string {
		var out []string
		for _, i := range is {
			out = append(out, c.Clients[i].ID)
		}
		slices.Sort(out)
		return out
	}
	for _, tt := range []struct {
		goos, proc string
		want       []string
	}{
		{"windows", "Astrill.exe", []string{"astrill"}},
		{"windows", "AstrillVPN-Helper.exe", []string{"astrill"}},
		{"windows", "ASProxy.exe", []string{"astrill"}},
		{"linux", "asproxy", []string{"astrill"}},
		{"linux", "astrill.exe", nil},
		{"windows", "notepad.exe", nil},
		{"darwin", "Tailscale", []string{"tailscale"}},
		{"windows", "zerotier-one_x64.exe", []string{"zerotier"}},
	} {
		if got := ids(c.processClients(tt.goos, tt.proc)); !slices.Equal(got, tt.want) {
			t.Errorf("processClients(%s, %s) = %v, want %v", tt.goos, tt.proc, got, tt.want)
		}
	}
	for name, want := range map[string][]string{
		"NordVPN":                              {"nordvpn"},
		"NordVPN 7.2":                          {"nordvpn"},
		"NordVPNTeams":                         nil,
		"Proton VPN":                           {"protonvpn"},
		"Cisco Secure Client - AnyConnect VPN": {"cisco_secure_client"},
		"Astrill":                              {"astrill"},
		"Astrillion Suite":                     nil,
		"Microsoft Edge":                       nil,
	} {
		if got := ids(c.softwareClients(name)); !slices.Equal(got, want) {
			t.Errorf("softwareClients(%q) = %v, want %v", name, got, want)
		}
	}
}

func TestParseCatalogueRejects(t *testing.T) {
	t.Parallel()
	for _, bad := range []string{
		"clients: []",
		"clients: [{id: x, name: X, category: consumer, sources: [nowhere], packages: [x]}]",
		"clients: [{id: X, name: X, category: consumer, packages: [x]}]",
		"clients: [{id: x, name: X, category: consumer, processes: {windows: ['[x']}}]",
		"clients: [{id: x, name: X, category: consumer, paths: {linux: ['opt/../x']}}]",
		"clients: [{id: x, name: X, category: consumer, packages: [x]}, {id: x, name: Y, category: mesh, packages: [y]}]",
		"clients: {",
	} {
		if _, err := ParseCatalogue([]byte(bad)); err == nil {
			t.Errorf("ParseCatalogue(%q) accepted", bad)
		}
	}
	if _, err := ParseCatalogue([]byte("sources: {s: x}\nclients: [{id: x, name: X, category: generic, sources: [s], packages: [x]}]")); err != nil {
		t.Errorf("minimal catalogue: %v", err)
	}
}
