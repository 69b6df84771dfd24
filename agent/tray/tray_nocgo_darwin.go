//go:build darwin && !cgo

package tray

import (
	"context"
	"errors"

	"go.uber.org/zap"

	"github.com/farmwatch/farmwatch/agent/localapi"
)

// Available says whether this build has a tray (macOS needs cgo).
const Available = false

// ErrNeedsCgo explains how to get the macOS tray.
var ErrNeedsCgo = errors.New("this build has no tray: on macOS the tray needs cgo. Build it on a Mac with " +
	"CGO_ENABLED=1 go build -o farmwatch ./agent/cmd/farmwatch (see docs/service.md, \"macOS tray\"); " +
	"`farmwatch status` shows the same lines")

// Run reports that the cgo-free macOS build has no tray.
func Run(context.Context, *localapi.Client, *zap.Logger) error { return ErrNeedsCgo }
