//go:build !windows

package localapi

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestSocketModesAndStaleSocket(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "run", "farmwatch")
	ep := filepath.Join(dir, "fw.sock")
	// A stale socket left by a crash: bound, then its listener gone
	// without removing the file.
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: ep, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	l.SetUnlinkOnClose(false)
	l.Close()
	startServer(t, &fakeSource{facts: sampleFacts()}, ep, nil)
	fi, err := os.Stat(ep)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o666 {
		t.Errorf("socket mode %v, want 0666", fi.Mode().Perm())
	}
	if _, err := NewClient(ep).Status(context.Background()); err != nil {
		t.Errorf("status over the replaced socket: %v", err)
	}
}

func TestCreatesSocketDirectory0755(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "new")
	startServer(t, &fakeSource{facts: sampleFacts()}, filepath.Join(dir, "fw.sock"), nil)
	fi, err := os.Stat(dir)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o755 {
		t.Errorf("directory mode %v, want 0755", fi.Mode().Perm())
	}
}

func TestRefusesLiveSocketAndOtherFiles(t *testing.T) {
	t.Parallel()
	ep := filepath.Join(t.TempDir(), "fw.sock")
	startServer(t, &fakeSource{facts: sampleFacts()}, ep, nil)
	second := &Server{Source: &fakeSource{}}
	if err := second.Serve(context.Background(), ep); err == nil || !strings.Contains(err.Error(), "already serves") {
		t.Errorf("a second server on a live socket: %v", err)
	}
	file := filepath.Join(t.TempDir(), "not-a-socket")
	if err := os.WriteFile(file, []byte("data"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := second.Serve(context.Background(), file); err == nil || !strings.Contains(err.Error(), "not a socket") {
		t.Errorf("serving over a regular file: %v", err)
	}
	if b, err := os.ReadFile(file); err != nil || string(b) != "data" {
		t.Errorf("the regular file was touched: %q %v", b, err)
	}
}

func TestParseProcGroups(t *testing.T) {
	t.Parallel()
	status := "Name:\tbash\nUid:\t1000\t1000\t1000\t1000\nGid:\t1000\t1000\t1000\t1000\nGroups:\t4 24 27 1000 \nNgid:\t0\n"
	gids, err := parseProcGroups([]byte(status))
	if err != nil || len(gids) != 4 || gids[2] != 27 {
		t.Errorf("groups %v %v", gids, err)
	}
	if gids, err := parseProcGroups([]byte("Name:\tx\nGroups:\t\n")); err != nil || len(gids) != 0 {
		t.Errorf("no groups: %v %v", gids, err)
	}
	for _, bad := range []string{"Name:\tx\n", "Groups:\t4 x\n", "Groups:\t-1\n"} {
		if _, err := parseProcGroups([]byte(bad)); err == nil {
			t.Errorf("parseProcGroups(%q) accepted", bad)
		}
	}
}

func TestIsAdmin(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		cred  credentials
		admin []int
		want  bool
	}{
		{credentials{uid: 0}, nil, true},
		{credentials{uid: 1000, gids: []int{1000, 27}}, []int{27}, true},
		{credentials{uid: 1000, gids: []int{1000}}, []int{27, 10}, false},
		{credentials{uid: 65534, gids: nil}, []int{27}, false},
	} {
		if got := isAdmin(c.cred, c.admin); got != c.want {
			t.Errorf("isAdmin(%+v, %v) = %v", c.cred, c.admin, got)
		}
	}
}
