package localapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// Environment of the helper process of TestPeerCredentials.
const (
	helperEnv         = "FARMWATCH_LOCALAPI_HELPER"
	helperEndpointEnv = "FARMWATCH_LOCALAPI_ENDPOINT"
	nobody            = 65534
)

// helperResult is what the helper process saw.
type helperResult struct {
	UID         int    `json:"uid"`
	StatusErr   string `json:"status_err"`
	CanCheckNow bool   `json:"can_check_now"`
	Forbidden   bool   `json:"forbidden"`
	CheckErr    string `json:"check_err"`
}

// TestHelperProcess is not a test: TestPeerCredentials runs the test
// binary as another user with this test selected, to call the API as that
// user.
func TestHelperProcess(t *testing.T) {
	if os.Getenv(helperEnv) != "1" {
		t.Skip("helper process of TestPeerCredentials")
	}
	c := NewClient(os.Getenv(helperEndpointEnv))
	r := helperResult{UID: os.Getuid()}
	st, err := c.Status(context.Background())
	if err != nil {
		r.StatusErr = err.Error()
	} else {
		r.CanCheckNow = st.CanCheckNow
	}
	if err := c.CheckNow(context.Background()); err != nil {
		r.CheckErr, r.Forbidden = err.Error(), errors.Is(err, ErrForbidden)
	}
	json.NewEncoder(os.Stdout).Encode(r)
}

// TestPeerCredentials: with real peer credentials (SO_PEERCRED), an
// unprivileged user reads the status but is refused check-now (403);
// root may check now (202); an unprivileged member of an admin group may
// too.
func TestPeerCredentials(t *testing.T) {
	if os.Geteuid() != 0 {
		if os.Getenv("CI") == "true" {
			t.Fatal("needs root to run a client as another user (CI runs as root)")
		}
		t.Skip("needs root to run a client as another user; run as root (CI does)")
	}
	// A directory every user can traverse, holding the socket and a copy
	// of this test binary (go test's build directory is private).
	dir, err := os.MkdirTemp("", "farmwatch-peercred-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "localapi.test")
	copyFile(t, self, bin)

	nobodyGroup, err := user.LookupGroupId(fmt.Sprint(nobody))
	if err != nil {
		t.Fatalf("group %d: %v", nobody, err)
	}
	cases := []struct {
		name        string
		adminGroups []string
		wantAdmin   bool
	}{
		{"unprivileged", []string{"sudo", "wheel"}, false},
		{"member of an admin group", []string{"sudo", nobodyGroup.Name}, true},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			src := &fakeSource{facts: sampleFacts()}
			ep := filepath.Join(dir, fmt.Sprintf("fw%d.sock", i))
			startServer(t, src, ep, c.adminGroups)
			r := runAs(t, bin, ep, nobody)
			if r.UID != nobody || r.StatusErr != "" {
				t.Fatalf("helper as uid %d: status error %q", r.UID, r.StatusErr)
			}
			if r.CanCheckNow != c.wantAdmin {
				t.Errorf("can_check_now %v, want %v", r.CanCheckNow, c.wantAdmin)
			}
			if c.wantAdmin {
				if r.CheckErr != "" || len(src.requested()) != 1 || !strings.Contains(src.requested()[0], fmt.Sprintf("uid %d", nobody)) {
					t.Errorf("check-now by an admin-group member: err %q, requests %v", r.CheckErr, src.requested())
				}
			} else if !r.Forbidden || len(src.requested()) != 0 {
				t.Errorf("check-now by uid %d: err %q (forbidden %v), requests %v", nobody, r.CheckErr, r.Forbidden, src.requested())
			}

			// Root, in this process.
			st, err := NewClient(ep).Status(context.Background())
			if err != nil || !st.CanCheckNow {
				t.Fatalf("root: %+v %v", st, err)
			}
			before := len(src.requested())
			if err := NewClient(ep).CheckNow(context.Background()); err != nil {
				t.Errorf("root CheckNow: %v", err)
			}
			if r := src.requested(); len(r) != before+1 || !strings.Contains(r[len(r)-1], "uid 0") {
				t.Errorf("root's request not recorded: %v", r)
			}
		})
	}
}

// runAs runs the helper test as uid/gid and returns what it saw.
func runAs(t *testing.T, bin, endpoint string, id uint32) helperResult {
	t.Helper()
	cmd := exec.Command(bin, "-test.run=^TestHelperProcess$", "-test.v=false")
	cmd.Env = []string{helperEnv + "=1", helperEndpointEnv + "=" + endpoint, "PATH=" + os.Getenv("PATH")}
	cmd.Dir = filepath.Dir(bin)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: id, Gid: id}}
	out, err := cmd.Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			t.Fatalf("helper: %v\n%s\n%s", err, out, ee.Stderr)
		}
		t.Fatalf("helper: %v", err)
	}
	var r helperResult
	line := strings.TrimSpace(strings.SplitN(string(out), "\n", 2)[0])
	if err := json.Unmarshal([]byte(line), &r); err != nil {
		t.Fatalf("helper output %q: %v", out, err)
	}
	return r
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	in, err := os.Open(from)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out, err := os.OpenFile(to, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o755)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
}
