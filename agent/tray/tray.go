//go:build !darwin || cgo

package tray

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"time"

	"fyne.io/systray"
	"go.uber.org/zap"

	"github.com/farmwatch/farmwatch/agent/localapi"
)

// PollInterval is how often the tray asks the agent for its status.
const PollInterval = 30 * time.Second

// maxDetails bounds the Details submenu.
const maxDetails = 30

// Available says whether this build has a tray (macOS needs cgo).
const Available = true

// Run shows the tray icon until ctx ends or the user picks Quit. It asks
// the agent at c for its status every PollInterval and after each action.
func Run(ctx context.Context, c *localapi.Client, log *zap.Logger) error {
	if err := desktopSession(); err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	done, started := make(chan struct{}), make(chan struct{})
	onReady := func() {
		close(started)
		t := newMenu(log)
		go func() {
			defer close(done)
			t.loop(ctx, c)
			systray.Quit()
		}()
	}
	systray.Run(onReady, cancel)
	cancel()
	select {
	case <-started:
		<-done
	default: // the tray ended before it was ready
	}
	return nil
}

// desktopSession checks that a tray can be shown at all: on Linux the
// tray talks to the desktop over the D-Bus session bus.
func desktopSession() error {
	if runtime.GOOS != "linux" {
		return nil
	}
	if os.Getenv("DBUS_SESSION_BUS_ADDRESS") != "" {
		return nil
	}
	if dir := os.Getenv("XDG_RUNTIME_DIR"); dir != "" {
		if _, err := os.Stat(filepath.Join(dir, "bus")); err == nil {
			return nil
		}
	}
	return errors.New("tray: no desktop session here (no D-Bus session bus); run `farmwatch status` instead")
}

// menu holds the tray's menu items; lines are a fixed pool shown and
// hidden as the status changes (systray menus are built once).
type menu struct {
	log      *zap.Logger
	headline *systray.MenuItem
	lines    []*systray.MenuItem
	details  *systray.MenuItem
	detail   []*systray.MenuItem
	check    *systray.MenuItem
	quit     *systray.MenuItem
	color    Color
}

func newMenu(log *zap.Logger) *menu {
	m := &menu{log: log}
	systray.SetTitle("farmwatch")
	m.headline = systray.AddMenuItem("farmwatch", "")
	m.headline.Disable()
	for range MaxLines {
		it := systray.AddMenuItem("", "")
		it.Disable()
		it.Hide()
		m.lines = append(m.lines, it)
	}
	systray.AddSeparator()
	m.details = systray.AddMenuItem("Details", "every status line")
	for range maxDetails {
		it := m.details.AddSubMenuItem("", "")
		it.Disable()
		it.Hide()
		m.detail = append(m.detail, it)
	}
	m.check = systray.AddMenuItem("Check now", "ask farmwatch to check this laptop now")
	m.check.Disable()
	systray.AddSeparator()
	m.quit = systray.AddMenuItem("Quit", "hide the tray icon until the next login")
	return m
}

// loop polls and handles clicks until ctx ends or Quit is picked.
func (m *menu) loop(ctx context.Context, c *localapi.Client) {
	refresh := func() {
		rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		st, err := c.Status(rctx)
		if ctx.Err() != nil {
			return
		}
		m.show(ViewOf(st, err))
	}
	refresh()
	tick := time.NewTicker(PollInterval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-m.quit.ClickedCh:
			return
		case <-m.check.ClickedCh:
			rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			err := c.CheckNow(rctx)
			cancel()
			if err != nil {
				m.log.Warn("check now refused", zap.Error(err))
				m.headline.SetTitle(fmt.Sprintf("Check now: %v", err))
				continue
			}
			m.headline.SetTitle("Checking now …")
		case <-tick.C:
			refresh()
		}
	}
}

// show puts a View on the tray.
func (m *menu) show(v View) {
	if v.Color != m.color {
		icon, err := Icon(runtime.GOOS, v.Color)
		if err != nil {
			m.log.Error("tray icon", zap.Error(err))
		} else {
			systray.SetIcon(icon)
			m.color = v.Color
		}
	}
	systray.SetTooltip(v.Tooltip)
	m.headline.SetTitle(v.Tooltip)
	fill(m.lines, v.Lines)
	fill(m.detail, v.Details)
	if v.CheckNow {
		m.check.Enable()
		m.check.SetTooltip("ask farmwatch to check this laptop now")
	} else {
		m.check.Disable()
		m.check.SetTooltip(v.CheckNowHint)
	}
}

func fill(items []*systray.MenuItem, lines []string) {
	for i, it := range items {
		if i < len(lines) {
			it.SetTitle(lines[i])
			it.Show()
		} else {
			it.Hide()
		}
	}
}
