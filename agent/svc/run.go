package svc

import (
	"context"
	"time"
)

// EnvWindowsService set to "1" makes Run take the Windows service path even
// when svc.IsWindowsService says otherwise: under Wine, whose service
// manager the detection does not recognise (see docs/service.md).
const EnvWindowsService = "FARMWATCH_WINDOWS_SERVICE"

// StopTimeout bounds how long a stop request waits for the run function
// to return (it sends the "stopping" report within its own, shorter,
// bound).
const StopTimeout = 25 * time.Second

// RunFunc is the service's work; it returns when ctx ends.
type RunFunc func(ctx context.Context) error
