package svc

import (
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// testDir replaces t.TempDir on Windows: Go's os.RemoveAll fails under
// Wine 8, so the directory is removed file by file and leftovers are only
// logged.
func testDir(t testing.TB) string {
	dir, err := os.MkdirTemp("", "farmwatch-svc-test-")
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
		slices.Reverse(paths)
		for _, p := range paths {
			if err := os.Remove(p); err != nil {
				t.Logf("cleanup: %v", err)
			}
		}
	})
	return dir
}
