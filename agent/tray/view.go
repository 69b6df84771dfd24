package tray

import (
	"errors"
	"fmt"

	"github.com/farmwatch/farmwatch/agent/localapi"
)

// Color is the tray icon's colour.
type Color string

// Colours.
const (
	Green Color = "green" // nothing unusual
	Amber Color = "amber" // something needs attention
	Red   Color = "red"   // something was found, or the agent has a problem
	Grey  Color = "grey"  // the service is not running or cannot be asked
)

// MaxLines is how many status lines the menu shows directly; "Details"
// holds them all.
const MaxLines = 6

// View is what the tray shows for one status answer.
type View struct {
	Color   Color
	Tooltip string
	// Lines are the menu's status lines (at most MaxLines); Details all
	// of them.
	Lines, Details []string
	// CheckNow enables "Check now"; CheckNowHint says why it is off.
	CheckNow     bool
	CheckNowHint string
}

// ViewOf maps a status answer (or the error of asking) to what the tray
// shows.
func ViewOf(st *localapi.Status, err error) View {
	switch {
	case errors.Is(err, localapi.ErrNotRunning):
		lines := []string{
			"The farmwatch service is not running on this laptop.",
			"An administrator can start it with: farmwatch service start",
		}
		return View{Color: Grey, Tooltip: "farmwatch: not running", Lines: lines, Details: lines, CheckNowHint: "the service is not running"}
	case err != nil:
		lines := []string{"farmwatch could not be asked for its status.", err.Error()}
		return View{Color: Grey, Tooltip: "farmwatch: status unavailable", Lines: lines, Details: lines, CheckNowHint: "the service cannot be reached"}
	case st == nil:
		lines := []string{"farmwatch gave no status."}
		return View{Color: Grey, Tooltip: "farmwatch: status unavailable", Lines: lines, Details: lines, CheckNowHint: "the service cannot be reached"}
	}
	v := View{Tooltip: "farmwatch: " + st.Headline, CheckNow: st.CanCheckNow}
	switch st.Level {
	case localapi.LevelOK:
		v.Color = Green
	case localapi.LevelAttention:
		v.Color = Amber
	case localapi.LevelAlert, localapi.LevelError:
		v.Color = Red
	default:
		v.Color = Red
		v.Tooltip = fmt.Sprintf("farmwatch: unknown status level %q: %s", st.Level, st.Headline)
	}
	v.Details = append([]string{st.Headline}, st.Lines...)
	v.Lines = v.Details
	if len(v.Lines) > MaxLines {
		v.Lines = append(v.Lines[:MaxLines-1:MaxLines-1], fmt.Sprintf("… %d more in Details", len(v.Details)-(MaxLines-1)))
	}
	if !v.CheckNow {
		v.CheckNowHint = "only an administrator can ask for a check"
	}
	return v
}
