// Package detectortest holds what detector tests share: fake hosts built
// from text archives (txtar), a replaying command runner, and golden-file
// comparison regenerated with `go test ./detectors/... -update`.
//
// Fixture layout, per detector: testdata/<goos>-<case>/ with
//   - host.txtar: the filesystem (paths relative to "/"; a file named
//     "a/b -> target" is a symlink to target);
//   - exec.txtar: command outputs, one file per command line, named by the
//     command and its arguments joined by spaces; a file "<cmd>.exit" holds a
//     non-zero exit status instead;
//   - proc.json: {"processes":[…],"sockets":[…]} for the process table;
//   - goldens (observation.json, findings.json …) next to them.
//
// It is imported only by tests (TempDir also by tests outside detectors).
package detectortest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"
	"golang.org/x/tools/txtar"

	"github.com/farmwatch/farmwatch/detectors"
)

// Update rewrites golden files instead of comparing with them.
var Update = flag.Bool("update", false, "rewrite golden files in testdata")

// FixedTime is the clock of fixture hosts.
var FixedTime = time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)

// TempDir is t.TempDir, except on Windows: Go's os.RemoveAll fails under
// Wine 8 ("unlinkat: Invalid function"), which would fail every test at
// cleanup, so there the directory is removed file by file and leftovers
// are only logged. Tests of every package whose Windows code runs under
// Wine use it.
func TempDir(t testing.TB) string {
	t.Helper()
	if runtime.GOOS != "windows" {
		return t.TempDir()
	}
	dir, err := os.MkdirTemp("", "farmwatch-test-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		var paths []string
		filepath.WalkDir(dir, func(p string, _ fs.DirEntry, err error) error {
			if err == nil {
				paths = append(paths, p)
			}
			return nil
		})
		slices.Reverse(paths) // files before their directories
		for _, p := range paths {
			if err := os.Remove(p); err != nil {
				t.Logf("cleanup: %v", err)
			}
		}
	})
	return dir
}

// ParseFS turns a txtar archive into a filesystem.
func ParseFS(data []byte) fstest.MapFS {
	ar := txtar.Parse(data)
	m := fstest.MapFS{}
	for _, f := range ar.Files {
		name := strings.TrimPrefix(strings.TrimSpace(f.Name), "/")
		if i := strings.Index(name, " -> "); i >= 0 {
			m[name[:i]] = &fstest.MapFile{Data: []byte(name[i+4:]), Mode: fs.ModeSymlink | 0o777}
			continue
		}
		if strings.HasSuffix(name, "/") {
			m[strings.TrimSuffix(name, "/")] = &fstest.MapFile{Mode: fs.ModeDir | 0o755}
			continue
		}
		m[name] = &fstest.MapFile{Data: f.Data, Mode: 0o644, ModTime: FixedTime}
	}
	return m
}

// Runner replays recorded command outputs. Unknown commands fail with
// fs.ErrNotExist, like a program that is not installed.
type Runner struct {
	Outputs map[string][]byte
	Exits   map[string]int
}

// ParseRunner turns a txtar archive into a Runner.
func ParseRunner(data []byte) *Runner {
	r := &Runner{Outputs: map[string][]byte{}, Exits: map[string]int{}}
	for _, f := range txtar.Parse(data).Files {
		name := strings.TrimSpace(f.Name)
		if base, ok := strings.CutSuffix(name, ".exit"); ok {
			var code int
			fmt.Sscanf(strings.TrimSpace(string(f.Data)), "%d", &code)
			r.Exits[base] = code
			continue
		}
		r.Outputs[name] = f.Data
	}
	return r
}

// Run implements detectors.Runner.
func (r *Runner) Run(ctx context.Context, name string, args ...string) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	key := strings.Join(append([]string{name}, args...), " ")
	if code, ok := r.Exits[key]; ok {
		return r.Outputs[key], fmt.Errorf("run %s: exit status %d", name, code)
	}
	out, ok := r.Outputs[key]
	if !ok {
		return nil, fmt.Errorf("run %s: %w", key, fs.ErrNotExist)
	}
	return out, nil
}

// EmptyHost is a fake host for goos with nothing on it: an empty
// filesystem, no commands, no processes.
func EmptyHost(t testing.TB, goos string) *detectors.Host {
	return &detectors.Host{
		GOOS: goos, GOARCH: "amd64",
		FS:   fstest.MapFS{},
		Exec: &Runner{},
		Proc: detectors.StaticProcessTable{},
		Now:  func() time.Time { return FixedTime },
		Log:  zaptest.NewLogger(t, zaptest.Level(zap.WarnLevel)),
	}
}

// Host builds a fake host for goos from a fixture directory holding
// host.txtar, exec.txtar and proc.json (all optional).
func Host(t testing.TB, goos, dir string) *detectors.Host {
	t.Helper()
	h := EmptyHost(t, goos)
	if data, err := os.ReadFile(filepath.Join(dir, "host.txtar")); err == nil {
		h.FS = ParseFS(data)
	} else if !errors.Is(err, fs.ErrNotExist) {
		t.Fatal(err)
	}
	if data, err := os.ReadFile(filepath.Join(dir, "exec.txtar")); err == nil {
		h.Exec = ParseRunner(data)
	} else if !errors.Is(err, fs.ErrNotExist) {
		t.Fatal(err)
	}
	if data, err := os.ReadFile(filepath.Join(dir, "proc.json")); err == nil {
		var pt detectors.StaticProcessTable
		var raw struct {
			Processes []detectors.Process `json:"processes"`
			Sockets   []detectors.Socket  `json:"sockets"`
		}
		if err := json.Unmarshal(data, &raw); err != nil {
			t.Fatalf("%s/proc.json: %v", dir, err)
		}
		pt.Procs, pt.Socks = raw.Processes, raw.Sockets
		h.Proc = pt
	} else if !errors.Is(err, fs.ErrNotExist) {
		t.Fatal(err)
	}
	return h
}

// GoldenJSON compares v, encoded as indented JSON, with the file at path,
// or rewrites the file under -update.
func GoldenJSON(t testing.TB, path string, v any) {
	t.Helper()
	got, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		t.Fatalf("encode %s: %v", path, err)
	}
	got = append(got, '\n')
	Golden(t, path, got)
}

// Golden compares got with the file at path, or rewrites it under -update.
func Golden(t testing.TB, path string, got []byte) {
	t.Helper()
	if *Update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read golden %s: %v (run with -update to create it)", path, err)
	}
	if !bytes.Equal(want, got) {
		t.Errorf("%s differs from the golden file (run with -update after checking):\n%s", path, lineDiff(string(want), string(got)))
	}
}

func lineDiff(want, got string) string {
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	var b strings.Builder
	n := max(len(w), len(g))
	shown := 0
	for i := 0; i < n && shown < 40; i++ {
		var wl, gl string
		if i < len(w) {
			wl = w[i]
		}
		if i < len(g) {
			gl = g[i]
		}
		if wl != gl {
			fmt.Fprintf(&b, "line %d\n  - %s\n  + %s\n", i+1, wl, gl)
			shown++
		}
	}
	return b.String()
}

// Dirs lists the fixture directories under testdata whose name starts
// with prefix (e.g. "windows-").
func Dirs(t testing.TB, prefix string) []string {
	t.Helper()
	entries, err := os.ReadDir("testdata")
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range entries {
		if e.IsDir() && strings.HasPrefix(e.Name(), prefix) {
			out = append(out, filepath.Join("testdata", e.Name()))
		}
	}
	return out
}
