package transport

import (
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"testing"
)

// testDir is t.TempDir, except on Windows: Go's os.RemoveAll fails under
// Wine 8 ("unlinkat: Invalid function"), which would fail every test at
// cleanup, so there the directory is removed file by file and leftovers
// are only logged.
func testDir(t testing.TB) string {
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
