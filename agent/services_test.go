package agent

import (
	"context"
	"testing"

	"gopkg.in/yaml.v3"
)

// TestDetectorServicesFollowThePolicy: the colocation beacon (a detector
// service) runs while its detector is enabled, stops when the policy
// disables it, starts again when it is enabled again, and every service
// ends with the run loop's context. The beacon is turned off in the
// detector's policy, so the service runs without opening a socket.
func TestDetectorServicesFollowThePolicy(t *testing.T) {
	t.Parallel()
	url, ca, st, _ := collector(t)
	a := enrolledAgent(t, url, ca, st)
	if err := yaml.Unmarshal([]byte("colocation:\n  beacon: false\n  mdns: false\n"), &a.Config.Policy); err != nil {
		t.Fatal(err)
	}
	a.Config.Detectors.Enabled = []string{"colocation", "remoteaccess"}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	a.startServices(ctx)
	first := a.serviceMap()["colocation"]
	if first == nil || len(a.serviceMap()) != 1 {
		t.Fatalf("services %v, want colocation's only", a.serviceMap())
	}
	if h := a.host(); h.Services["colocation"] != first {
		t.Error("Observe's host does not carry the running service")
	}

	a.Config.Detectors.Enabled = []string{"remoteaccess"}
	a.syncServices()
	if m := a.serviceMap(); len(m) != 0 {
		t.Fatalf("services %v after colocation was disabled, want none", m)
	}

	a.Config.Detectors.Enabled = []string{"colocation", "remoteaccess"}
	a.syncServices()
	second := a.serviceMap()["colocation"]
	if second == nil || second == first {
		t.Fatalf("colocation service after re-enabling: %v (first %v), want a new one", second, first)
	}

	cancel()
	a.waitServices()
	a.syncServices()
	if m := a.serviceMap(); len(m) != 0 {
		t.Errorf("services %v after the run loop ended, want none", m)
	}
}
