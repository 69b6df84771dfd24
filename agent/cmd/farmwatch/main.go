// Command farmwatch is the farmwatch agent: it checks this laptop for
// remote-access tools and other signs of a laptop farm.
//
//	farmwatch scan [--json] [--snapshot FILE] [--detectors a,b] [--fail-on SEVERITY]
//	farmwatch snapshot [-o FILE]
//	farmwatch version
//
// Exit codes: 0 success, 1 failure, 2 bad input or usage, 3 a finding at or
// above --fail-on.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	_ "github.com/farmwatch/farmwatch/detectors/all" // every detector
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := Main(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
