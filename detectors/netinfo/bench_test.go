package netinfo

import (
	"os"
	"path/filepath"
	"testing"

	"go.uber.org/zap"

	"github.com/farmwatch/farmwatch/detectors"
)

// BenchmarkLinuxHomeLaptop reads the interfaces, the gateway (with the
// neighbour table) and the neighbours of the recorded home laptop.
func BenchmarkLinuxHomeLaptop(b *testing.B) {
	h := &detectors.Host{GOOS: "linux", FS: os.DirFS(filepath.Join("testdata", "linux", "home-laptop")), Log: zap.NewNop()}
	ctx := b.Context()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Interfaces(ctx, h); err != nil {
			b.Fatal(err)
		}
		if _, err := DefaultGateway(ctx, h); err != nil {
			b.Fatal(err)
		}
		if _, err := Neighbours(ctx, h); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkParseFibTrie(b *testing.B) {
	data, err := os.ReadFile("testdata/linux/home-laptop/proc/net/fib_trie")
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := parseFibTrie(data); err != nil {
			b.Fatal(err)
		}
	}
}
