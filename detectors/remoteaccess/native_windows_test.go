//go:build windows

package remoteaccess

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/windows"
	"golang.org/x/sys/windows/registry"
	"golang.org/x/sys/windows/svc"
	"golang.org/x/sys/windows/svc/mgr"
)

// These tests drive the real Windows APIs: they create services, uninstall
// entries and RDP registry values, read them back through windowsNative and
// remove them again. CI runs them under Wine (.ci/wine-test.sh), where the
// process is administrator. On Windows without administrator rights the
// tests that write to HKLM or the service manager skip, except with CI=true,
// where they fail.

// serviceFlag makes the test binary act as a Windows service; the SCM
// starts it that way in TestServicesReportsRunningService.
var serviceFlag = flag.String("farmwatch.service", "", "run as the named Windows service (set by TestServicesReportsRunningService)")

func TestMain(m *testing.M) {
	flag.Parse()
	if *serviceFlag != "" {
		if err := svc.Run(*serviceFlag, testService{}); err != nil {
			fmt.Fprintf(os.Stderr, "service %s: %v\n", *serviceFlag, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// testService reports running until the SCM tells it to stop.
type testService struct{}

func (testService) Execute(_ []string, r <-chan svc.ChangeRequest, s chan<- svc.Status) (bool, uint32) {
	s <- svc.Status{State: svc.StartPending}
	s <- svc.Status{State: svc.Running, Accepts: svc.AcceptStop | svc.AcceptShutdown}
	for c := range r {
		switch c.Cmd {
		case svc.Interrogate:
			s <- c.CurrentStatus
		case svc.Stop, svc.Shutdown:
			s <- svc.Status{State: svc.StopPending}
			return false, 0
		}
	}
	return false, 0
}

// needPermission fails the test on err, except that a lack of rights skips
// it on a developer machine. With CI=true nothing may skip.
func needPermission(t *testing.T, op string, err error) {
	t.Helper()
	if err == nil {
		return
	}
	if errors.Is(err, windows.ERROR_ACCESS_DENIED) && os.Getenv("CI") != "true" {
		t.Skipf("%s: %v: needs administrator rights (with CI=true this fails)", op, err)
	}
	t.Fatalf("%s: %v", op, err)
}

// underWine reports whether the process runs under Wine, whose ntdll
// exports wine_get_version.
func underWine() bool {
	return windows.NewLazySystemDLL("ntdll.dll").NewProc("wine_get_version").Find() == nil
}

func testName(kind string) string { return fmt.Sprintf("farmwatch-test-%d-%s", os.Getpid(), kind) }

// createService installs a service running this test binary and deletes it
// (stopping it first if needed) when the test ends.
func createService(t *testing.T, name string, cfg mgr.Config, args ...string) *mgr.Service {
	t.Helper()
	m, err := mgr.Connect()
	needPermission(t, "connect to the service manager", err)
	t.Cleanup(func() { m.Disconnect() })
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	s, err := m.CreateService(name, exe, cfg, args...)
	needPermission(t, "create service "+name, err)
	t.Cleanup(func() {
		if st, err := s.Query(); err == nil && st.State != svc.Stopped {
			if _, err := s.Control(svc.Stop); err != nil {
				t.Errorf("stop service %s: %v", name, err)
			}
			waitState(t, s, svc.Stopped)
		}
		if err := s.Delete(); err != nil {
			t.Errorf("delete service %s: %v", name, err)
		}
		s.Close()
	})
	return s
}

func waitState(t *testing.T, s *mgr.Service, want svc.State) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		st, err := s.Query()
		if err != nil {
			t.Fatalf("query service %s: %v", s.Name, err)
		}
		if st.State == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("service %s: state %d, want %d after 30 s", s.Name, st.State, want)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func findService(t *testing.T, name string) Service {
	t.Helper()
	got, err := windowsNative{}.Services(t.Context())
	if err != nil {
		t.Errorf("Services: %v", err)
	}
	i := slices.IndexFunc(got, func(s Service) bool { return s.Name == name })
	if i < 0 {
		t.Fatalf("Services: %s not among %d services", name, len(got))
	}
	return got[i]
}

func TestServicesReportsConfiguration(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		suffix   string
		start    uint32
		delayed  bool
		wantMode string
	}{
		{"Manual", mgr.StartManual, false, "manual"},
		{"Disabled", mgr.StartDisabled, false, "disabled"},
		{"Auto", mgr.StartAutomatic, false, "auto"},
		{"Delayed", mgr.StartAutomatic, true, "auto"},
	}
	for _, tt := range tests {
		t.Run(tt.suffix, func(t *testing.T) {
			if tt.delayed && underWine() {
				// CreateService's ChangeServiceConfig2 call fails with
				// ERROR_INVALID_LEVEL: Wine 8 has no delayed auto-start.
				t.Skip("Wine 8 does not implement delayed auto-start")
			}
			name := fmt.Sprintf("AnyDeskFwTest%d%s", os.Getpid(), tt.suffix)
			createService(t, name, mgr.Config{
				DisplayName:      "AnyDesk Service",
				StartType:        tt.start,
				DelayedAutoStart: tt.delayed,
				ServiceStartName: "LocalSystem",
			}, "--service")

			got := findService(t, name)
			want := Service{
				Name:        name,
				DisplayName: "AnyDesk Service",
				State:       "stopped",
				Path:        `"` + exe + `" --service`,
				Kind:        "windows_service",
				StartMode:   tt.wantMode,
				User:        "LocalSystem",
			}
			if !strings.Contains(exe, " ") {
				want.Path = exe + " --service" // EscapeArg quotes only when needed
			}
			if got != want {
				t.Errorf("Services() entry\n got %+v\nwant %+v", got, want)
			}
		})
	}
}

func TestServicesReportsRunningService(t *testing.T) {
	name := fmt.Sprintf("AnyDeskFwTest%dRunning", os.Getpid())
	s := createService(t, name, mgr.Config{DisplayName: "AnyDesk Service", StartType: mgr.StartManual},
		"-farmwatch.service="+name)
	if err := s.Start(); err != nil {
		t.Fatalf("start service %s: %v", name, err)
	}
	waitState(t, s, svc.Running)

	if got := findService(t, name); got.State != "running" {
		t.Errorf("Services() state of %s = %q, want running", name, got.State)
	}

	if _, err := s.Control(svc.Stop); err != nil {
		t.Fatalf("stop service %s: %v", name, err)
	}
	waitState(t, s, svc.Stopped)
	if got := findService(t, name); got.State != "stopped" {
		t.Errorf("Services() state of %s after stop = %q, want stopped", name, got.State)
	}
}

func TestServicesListsSystemServices(t *testing.T) {
	t.Parallel()
	got, err := windowsNative{}.Services(t.Context())
	if err != nil {
		t.Fatalf("Services: %v", err)
	}
	if len(got) == 0 {
		t.Fatal("Services: no services at all")
	}
	t.Logf("Services: %d services", len(got))
	for _, s := range got {
		if s.Name == "" || s.Kind != "windows_service" || s.State == "unknown" {
			t.Errorf("Services: implausible entry %+v", s)
		}
	}
	// Every Windows (and Wine) runs the RPC endpoint mapper.
	i := slices.IndexFunc(got, func(s Service) bool { return strings.EqualFold(s.Name, "RpcSs") })
	if i < 0 {
		t.Fatalf("Services: RpcSs missing from %d services", len(got))
	}
	if got[i].Path == "" || got[i].StartMode == "" {
		t.Errorf("Services: RpcSs without configuration: %+v", got[i])
	}
}

// uninstallEntry writes an uninstall entry and removes it when the test ends.
func uninstallEntry(t *testing.T, root registry.Key, view uint32, name string, values map[string]any) {
	t.Helper()
	parent, _, err := registry.CreateKey(root, uninstallKeyOf(root), registry.CREATE_SUB_KEY|registry.ENUMERATE_SUB_KEYS|view)
	needPermission(t, "create uninstall key", err)
	t.Cleanup(func() { parent.Close() })
	k, _, err := registry.CreateKey(parent, name, registry.SET_VALUE|view)
	needPermission(t, "create uninstall entry "+name, err)
	t.Cleanup(func() {
		if err := registry.DeleteKey(parent, name); err != nil {
			t.Errorf("delete uninstall entry %s: %v", name, err)
		}
	})
	defer k.Close()
	for n, v := range values {
		switch v := v.(type) {
		case string:
			err = k.SetStringValue(n, v)
		case uint32:
			err = k.SetDWordValue(n, v)
		}
		if err != nil {
			t.Fatalf("set %s\\%s: %v", name, n, err)
		}
	}
}

func uninstallKeyOf(root registry.Key) string {
	if root == registry.CURRENT_USER {
		return `Software\Microsoft\Windows\CurrentVersion\Uninstall`
	}
	return uninstallPath
}

func anyDeskValues(location string) map[string]any {
	return map[string]any{
		"DisplayName":     "AnyDesk",
		"DisplayVersion":  "9.0.4",
		"Publisher":       "AnyDesk Software GmbH",
		"InstallLocation": location,
		"UninstallString": `"` + location + `\AnyDesk.exe" --uninstall`,
	}
}

// setDWORD sets HKLM\path\name (creating missing keys) and restores the
// value, or its absence, and removes the keys it created when the test ends.
// With absent it deletes the value instead.
func setDWORD(t *testing.T, path, name string, v uint32, absent bool) {
	t.Helper()
	ensureKey(t, path)
	k, err := registry.OpenKey(registry.LOCAL_MACHINE, path, registry.QUERY_VALUE|registry.SET_VALUE|registry.WOW64_64KEY)
	needPermission(t, `open HKLM\`+path, err)
	old, _, getErr := k.GetIntegerValue(name)
	t.Cleanup(func() {
		defer k.Close()
		var err error
		switch {
		case errors.Is(getErr, registry.ErrNotExist):
			err = k.DeleteValue(name)
			if errors.Is(err, registry.ErrNotExist) {
				err = nil
			}
		case getErr == nil:
			err = k.SetDWordValue(name, uint32(old))
		}
		if err != nil {
			t.Errorf(`restore HKLM\%s\%s: %v`, path, name, err)
		}
	})
	if getErr != nil && !errors.Is(getErr, registry.ErrNotExist) {
		t.Fatalf(`read HKLM\%s\%s: %v`, path, name, getErr)
	}
	if absent {
		err = k.DeleteValue(name)
		if errors.Is(err, registry.ErrNotExist) {
			err = nil
		}
	} else {
		err = k.SetDWordValue(name, v)
	}
	needPermission(t, `write HKLM\`+path+`\`+name, err)
}

// ensureKey creates each missing component of HKLM\path and deletes the
// ones it created, deepest first, when the test ends.
func ensureKey(t *testing.T, path string) {
	t.Helper()
	parts := strings.Split(path, `\`)
	for i := range parts {
		p := strings.Join(parts[:i+1], `\`)
		k, existed, err := registry.CreateKey(registry.LOCAL_MACHINE, p, registry.QUERY_VALUE|registry.WOW64_64KEY)
		needPermission(t, `create HKLM\`+p, err)
		k.Close()
		if !existed {
			t.Cleanup(func() {
				if err := registry.DeleteKey(registry.LOCAL_MACHINE, p); err != nil {
					t.Errorf(`delete HKLM\%s: %v`, p, err)
				}
			})
		}
	}
}

func TestFeaturesFollowRDPRegistry(t *testing.T) {
	// Setting fDenyTSConnections=0 turns Remote Desktop on for real, so on
	// a developer's Windows this only runs when asked to.
	if !underWine() && os.Getenv("CI") != "true" {
		t.Skip("turns Remote Desktop on for a moment; runs under Wine or with CI=true")
	}
	const (
		local  = `HKLM\` + tsKeyPath + `\fDenyTSConnections`
		policy = `HKLM\` + tsPolicyKeyPath + `\fDenyTSConnections`
	)
	const unset = -1
	tests := []struct {
		name          string
		deny, pdeny   int // unset: value absent
		port          int // unset: value absent
		enabled       bool
		source        string
		detailContain string
	}{
		{"absent means disabled", unset, unset, unset, false, local, "port 3389, fDenyTSConnections not set"},
		{"allowed", 0, unset, unset, true, local, "port 3389"},
		{"denied", 1, unset, unset, false, local, "port 3389"},
		{"custom port", 0, unset, 3390, true, local, "port 3390"},
		{"policy denies", 0, 1, unset, false, policy, "port 3389, set by group policy"},
		{"policy allows", 1, 0, 4000, true, policy, "port 4000, set by group policy"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			setDWORD(t, tsKeyPath, "fDenyTSConnections", uint32(tt.deny), tt.deny == unset)
			setDWORD(t, tsPolicyKeyPath, "fDenyTSConnections", uint32(tt.pdeny), tt.pdeny == unset)
			setDWORD(t, rdpTcpKeyPath, "PortNumber", uint32(tt.port), tt.port == unset)

			got, err := windowsNative{}.Features(t.Context())
			if err != nil {
				t.Fatalf("Features: %v", err)
			}
			if len(got) != 1 {
				t.Fatalf("Features() = %+v, want one rdp feature", got)
			}
			f := got[0]
			if f.Name != "rdp" || f.Enabled != tt.enabled || f.Source != tt.source || !strings.HasPrefix(f.Detail, tt.detailContain) {
				t.Errorf("Features() = %+v\nwant name rdp, enabled %v, source %s, detail starting %q",
					f, tt.enabled, tt.source, tt.detailContain)
			}
		})
	}
}

func TestSessionsListsOnlyRDP(t *testing.T) {
	t.Parallel()
	got, err := windowsNative{}.Sessions(t.Context())
	if err != nil {
		t.Fatalf("Sessions: %v", err)
	}
	t.Logf("Sessions: %+v", got)
	for _, s := range got {
		if s.Protocol != "rdp" || s.ID == "" || !slices.Contains([]string{"active", "connected", "disconnected"}, s.State) {
			t.Errorf("Sessions: implausible session %+v", s)
		}
	}
	if underWine() && len(got) != 0 {
		t.Errorf("Sessions() under Wine = %+v, want none (Wine has no RDP)", got)
	}
}

func TestNativeHonoursCancelledContext(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	n := windowsNative{}
	for name, call := range map[string]func() error{
		"Services": func() error { _, err := n.Services(ctx); return err },
		"Software": func() error { _, err := n.Software(ctx); return err },
		"Features": func() error { _, err := n.Features(ctx); return err },
		"Sessions": func() error { _, err := n.Sessions(ctx); return err },
	} {
		if err := call(); !errors.Is(err, context.Canceled) {
			t.Errorf("%s with a cancelled context: %v, want context.Canceled", name, err)
		}
	}
}

func TestServiceStateAndStartMode(t *testing.T) {
	t.Parallel()
	states := map[uint32]string{
		windows.SERVICE_RUNNING:          "running",
		windows.SERVICE_STOPPED:          "stopped",
		windows.SERVICE_START_PENDING:    "starting",
		windows.SERVICE_CONTINUE_PENDING: "starting",
		windows.SERVICE_STOP_PENDING:     "stopping",
		windows.SERVICE_PAUSE_PENDING:    "paused",
		windows.SERVICE_PAUSED:           "paused",
		0:                                "unknown",
	}
	for in, want := range states {
		if got := serviceState(in); got != want {
			t.Errorf("serviceState(%d) = %q, want %q", in, got, want)
		}
	}
	modes := map[uint32]string{
		windows.SERVICE_AUTO_START:   "auto",
		windows.SERVICE_DEMAND_START: "manual",
		windows.SERVICE_DISABLED:     "disabled",
		windows.SERVICE_BOOT_START:   "boot",
		windows.SERVICE_SYSTEM_START: "system",
		99:                           "",
	}
	for in, want := range modes {
		if got := startMode(in); got != want {
			t.Errorf("startMode(%d) = %q, want %q", in, got, want)
		}
	}
}

func TestClientAddress(t *testing.T) {
	t.Parallel()
	wtsAddr := func(family byte, addr ...byte) []byte {
		b := make([]byte, 24)
		b[0] = family
		copy(b[4:], addr)
		return b
	}
	tests := []struct {
		name string
		in   []byte
		want string
	}{
		{"ipv4 at offset 2", wtsAddr(afINET, 0, 0, 203, 0, 113, 7), "203.0.113.7"},
		{"ipv6", wtsAddr(afINET6, 0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1), "2001:db8::1"},
		{"unspecified", wtsAddr(0), ""},
		{"short", []byte{2, 0, 0}, ""},
	}
	for _, tt := range tests {
		if got := clientAddress(tt.in); got != tt.want {
			t.Errorf("%s: clientAddress = %q, want %q", tt.name, got, tt.want)
		}
	}
	for _, c := range []struct{ name, addr, want string }{
		{"LAPTOP-7", "203.0.113.7", "LAPTOP-7 (203.0.113.7)"},
		{"LAPTOP-7", "", "LAPTOP-7"},
		{"", "203.0.113.7", "203.0.113.7"},
		{"", "", ""},
	} {
		if got := joinClient(c.name, c.addr); got != c.want {
			t.Errorf("joinClient(%q, %q) = %q, want %q", c.name, c.addr, got, c.want)
		}
	}
	if got := utf16String([]byte{'W', 0, 'S', 0, 0, 0, 'x', 0}); got != "WS" {
		t.Errorf("utf16String = %q, want WS", got)
	}
}
