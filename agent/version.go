package agent

import (
	"fmt"
	"runtime"
	"runtime/debug"
)

// Version and Commit are set at build time with
// -ldflags "-X github.com/farmwatch/farmwatch/agent.Version=…".
var (
	Version = "dev"
	Commit  = ""
)

// VersionString describes this build in one line.
func VersionString() string {
	commit := Commit
	if commit == "" {
		if bi, ok := debug.ReadBuildInfo(); ok {
			for _, s := range bi.Settings {
				if s.Key == "vcs.revision" && len(s.Value) >= 12 {
					commit = s.Value[:12]
				}
			}
		}
	}
	if commit == "" {
		commit = "unknown"
	}
	return fmt.Sprintf("farmwatch %s (commit %s, %s, %s/%s)", Version, commit, runtime.Version(), runtime.GOOS, runtime.GOARCH)
}
