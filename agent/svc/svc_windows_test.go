package svc

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unsafe"

	"github.com/kardianos/service"
	"go.uber.org/zap"
	"golang.org/x/sys/windows"
	"golang.org/x/sys/windows/svc/mgr"

	"github.com/farmwatch/farmwatch/detectors/detectortest"
)

// helperArg marks a test binary started by the service manager as the
// service (see TestServiceHelper).
const helperArg = "farmwatch-svc-helper"

// TestServiceHelper is the service process of TestWindowsServiceLifecycle:
// the SCM starts this test binary with -test.run=^TestServiceHelper$
// helperArg NAME MARKER. It runs the real handler, forced onto the service
// path (under Wine svc.IsWindowsService is false), with a run function
// that writes MARKER once its context ends, as the agent's stopping report
// would go out. Run directly, it has nothing to do.
func TestServiceHelper(t *testing.T) {
	args := flag.Args()
	if len(args) != 3 || args[0] != helperArg {
		t.Skip("only runs as the service of TestWindowsServiceLifecycle")
	}
	name, marker := args[1], args[2]
	err := Run(context.Background(), name, true, zap.NewNop(), func(ctx context.Context) error {
		if err := os.WriteFile(marker, []byte("running"), 0o644); err != nil {
			return err
		}
		<-ctx.Done()
		return os.WriteFile(marker, []byte("stopped in order"), 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestWindowsServiceLifecycle installs a service with kardianos against
// the SCM (Wine's under CI), starts it, sees it RUNNING, stops it, sees
// the handler stopped in order, checks the recovery actions, uninstalls.
func TestWindowsServiceLifecycle(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	dir := detectortest.TempDir(t)
	marker := filepath.Join(dir, "marker")
	name := fmt.Sprintf("farmwatch-test-%d", time.Now().UnixNano()%1e9)
	o := Options{Name: name, Executable: exe, Arguments: []string{"-test.run=^TestServiceHelper$", helperArg, name, marker}}
	installErr := Control("windows", "install", o)
	t.Cleanup(func() {
		if st, _ := Status("windows", o); st == StateRunning {
			Control("windows", "stop", o)
		}
		if err := Control("windows", "uninstall", o); err != nil {
			t.Errorf("uninstall: %v", err)
		}
		if st, err := Status("windows", o); st != StateNotInstalled {
			t.Errorf("after uninstall: %s %v, want not installed", st, err)
		}
	})
	if installErr != nil {
		t.Fatalf("install: %v", installErr)
	}
	if st, err := Status("windows", o); st != StateStopped || err != nil {
		t.Fatalf("after install: %s %v, want stopped", st, err)
	}
	checkRecovery(t, name)

	if err := Control("windows", "start", o); err != nil {
		t.Fatalf("start: %v", err)
	}
	waitState(t, o, StateRunning)
	waitMarker(t, marker, "running")
	if err := Control("windows", "stop", o); err != nil {
		t.Fatalf("stop: %v", err)
	}
	waitState(t, o, StateStopped)
	if b, err := os.ReadFile(marker); err != nil || string(b) != "stopped in order" {
		t.Fatalf("marker %q %v: the handler did not stop in order", b, err)
	}
}

func checkRecovery(t *testing.T, name string) {
	t.Helper()
	m, err := mgr.Connect()
	if err != nil {
		t.Fatal(err)
	}
	defer m.Disconnect()
	s, err := m.OpenService(name)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	c, err := s.Config()
	switch {
	case errors.Is(err, windows.ERROR_INVALID_LEVEL):
		// Wine 8 lacks the delayed-start level: read the basic
		// configuration only.
		var need uint32
		buf := make([]byte, 8192)
		if err := windows.QueryServiceConfig(s.Handle, (*windows.QUERY_SERVICE_CONFIG)(unsafe.Pointer(&buf[0])), uint32(len(buf)), &need); err != nil {
			t.Fatalf("query service config: %v", err)
		}
		if st := (*windows.QUERY_SERVICE_CONFIG)(unsafe.Pointer(&buf[0])).StartType; st != mgr.StartAutomatic {
			t.Errorf("start type %d, want automatic", st)
		}
	case err != nil:
		t.Fatal(err)
	case c.StartType != mgr.StartAutomatic || c.DelayedAutoStart:
		t.Errorf("start type %d delayed %v, want automatic, not delayed", c.StartType, c.DelayedAutoStart)
	}
	actions, err := s.RecoveryActions()
	if errors.Is(err, windows.ERROR_INVALID_LEVEL) {
		// Wine 8 stores failure actions but cannot read them back.
		t.Log("this service manager cannot report recovery actions (Wine); not compared")
		return
	}
	if err != nil {
		t.Fatalf("recovery actions: %v", err)
	}
	var got []string
	for _, a := range actions {
		got = append(got, fmt.Sprintf("%d:%s", a.Type, a.Delay))
	}
	var want []string
	for _, d := range RecoveryDelays {
		want = append(want, fmt.Sprintf("%d:%s", mgr.ServiceRestart, time.Duration(d)*time.Second))
	}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("recovery actions %v, want %v", got, want)
	}
	if p, err := s.ResetPeriod(); err != nil || p != uint32(RecoveryResetPeriod) {
		t.Errorf("reset period %d %v, want %d", p, err, RecoveryResetPeriod)
	}
}

// waitState polls the SCM until the service reaches want (the SCM moves
// through START_PENDING/STOP_PENDING on its own time).
func waitState(t *testing.T, o Options, want State) {
	t.Helper()
	var st State
	var err error
	for range 300 {
		if st, err = Status("windows", o); st == want {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("service state %s %v, want %s", st, err, want)
}

func waitMarker(t *testing.T, path, want string) {
	t.Helper()
	for range 300 {
		if b, err := os.ReadFile(path); err == nil && string(b) == want {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("marker never said %q", want)
}

func TestStateOf(t *testing.T) {
	for _, c := range []struct {
		st   service.Status
		err  error
		want State
	}{
		{service.StatusRunning, nil, StateRunning},
		{service.StatusStopped, nil, StateStopped},
		{service.StatusUnknown, service.ErrNotInstalled, StateNotInstalled},
		{service.StatusUnknown, errors.New("access denied"), StateUnknown},
	} {
		if got, _ := stateOf(c.st, c.err); got != c.want {
			t.Errorf("stateOf(%v, %v) = %s, want %s", c.st, c.err, got, c.want)
		}
	}
}
