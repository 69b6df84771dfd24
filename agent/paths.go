package agent

// Paths are the per-OS default locations of the agent's files.
type Paths struct {
	Config string // the configuration file
	State  string // keys, queue, last scan
	Logs   string // the service's log directory
}

// DefaultPaths returns the default locations for goos. getenv reads the
// environment (ProgramData on Windows); pass os.Getenv.
func DefaultPaths(goos string, getenv func(string) string) Paths {
	switch goos {
	case "windows":
		base := getenv("ProgramData")
		if base == "" {
			base = `C:\ProgramData`
		}
		base = base + `\farmwatch`
		return Paths{Config: base + `\farmwatch.yaml`, State: base + `\state`, Logs: base + `\logs`}
	case "darwin":
		return Paths{
			Config: "/Library/Application Support/farmwatch/farmwatch.yaml",
			State:  "/Library/Application Support/farmwatch/state",
			Logs:   "/Library/Logs/farmwatch",
		}
	default:
		return Paths{Config: "/etc/farmwatch/farmwatch.yaml", State: "/var/lib/farmwatch", Logs: "/var/log/farmwatch"}
	}
}
