package tray

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/farmwatch/farmwatch/agent/localapi"
)

func TestViewOf(t *testing.T) {
	t.Parallel()
	ok := &localapi.Status{Level: localapi.LevelOK, Headline: "Nothing unusual found.", Lines: []string{"Last check 3 minutes ago.", "Connected."}, CanCheckNow: true}
	cases := []struct {
		name     string
		st       *localapi.Status
		err      error
		color    Color
		check    bool
		tooltip  string
		firstTwo []string
	}{
		{"ok", ok, nil, Green, true, "farmwatch: Nothing unusual found.", []string{"Nothing unusual found.", "Last check 3 minutes ago."}},
		{"attention, not admin", &localapi.Status{Level: localapi.LevelAttention, Headline: "Not connected for 2 days."}, nil, Amber, false, "farmwatch: Not connected for 2 days.", []string{"Not connected for 2 days."}},
		{"alert", &localapi.Status{Level: localapi.LevelAlert, Headline: "AnyDesk is running."}, nil, Red, false, "farmwatch: AnyDesk is running.", []string{"AnyDesk is running."}},
		{"error", &localapi.Status{Level: localapi.LevelError, Headline: "The last check failed."}, nil, Red, false, "farmwatch: The last check failed.", []string{"The last check failed."}},
		{"unknown level is red", &localapi.Status{Level: "purple", Headline: "?"}, nil, Red, false, `farmwatch: unknown status level "purple": ?`, []string{"?"}},
		{"not running", nil, fmt.Errorf("dial: %w", localapi.ErrNotRunning), Grey, false, "farmwatch: not running", []string{"The farmwatch service is not running on this laptop."}},
		{"other error", nil, errors.New("boom"), Grey, false, "farmwatch: status unavailable", []string{"farmwatch could not be asked for its status.", "boom"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			v := ViewOf(c.st, c.err)
			if v.Color != c.color || v.CheckNow != c.check || v.Tooltip != c.tooltip {
				t.Errorf("view %+v, want colour %s check %v tooltip %q", v, c.color, c.check, c.tooltip)
			}
			if !v.CheckNow && v.CheckNowHint == "" {
				t.Error("Check now is off without a reason")
			}
			if n := min(len(c.firstTwo), len(v.Lines)); !slices.Equal(v.Lines[:n], c.firstTwo) || n != len(c.firstTwo) {
				t.Errorf("lines %q, want to start with %q", v.Lines, c.firstTwo)
			}
		})
	}
}

func TestViewOfLongStatus(t *testing.T) {
	t.Parallel()
	st := &localapi.Status{Level: localapi.LevelAlert, Headline: "Found 9 things."}
	for i := range 9 {
		st.Lines = append(st.Lines, fmt.Sprintf("line %d", i))
	}
	v := ViewOf(st, nil)
	if len(v.Lines) != MaxLines || len(v.Details) != 10 {
		t.Fatalf("lines %d details %d, want %d and 10", len(v.Lines), len(v.Details), MaxLines)
	}
	if last := v.Lines[MaxLines-1]; !strings.Contains(last, "5 more in Details") {
		t.Errorf("last menu line %q", last)
	}
	if v.Details[9] != "line 8" || st.Lines[4] != "line 4" {
		t.Error("details lost a line, or the status was changed")
	}
}
