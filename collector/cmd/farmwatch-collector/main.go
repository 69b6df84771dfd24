// Command farmwatch-collector is the farmwatch collector: it enrolls
// devices, verifies and stores their signed reports, correlates the fleet
// to find laptop farms and alerts the SOC.
//
//	farmwatch-collector init --dir DIR
//	farmwatch-collector serve --config DIR/collector.yaml
//	farmwatch-collector token create|list|revoke
//	farmwatch-collector devices list|show|revoke
//	farmwatch-collector alerts list|ack
//	farmwatch-collector roster import FILE
//	farmwatch-collector user add NAME --role ROLE
//	farmwatch-collector geoip lookup IP | geoip status
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := Main(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
