package colocation

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"time"

	"github.com/mdlayher/packet"
	"golang.org/x/sys/unix"
)

// systemSweeper sends ARP requests at the policy's rate over a raw packet
// socket and collects the replies until Linger after the last request.
func systemSweeper(ctx context.Context, r sweepRequest) (int, []sweepReply, error) {
	ifi, err := net.InterfaceByIndex(r.Interface.Index)
	if err != nil {
		return 0, nil, fmt.Errorf("arp sweep: %w", err)
	}
	conn, err := packet.Listen(ifi, packet.Raw, unix.ETH_P_ARP, nil)
	if err != nil {
		if errors.Is(err, os.ErrPermission) || errors.Is(err, unix.EPERM) || errors.Is(err, unix.EACCES) {
			return 0, nil, errNoRawSocket
		}
		return 0, nil, fmt.Errorf("arp sweep on %s: %w", ifi.Name, err)
	}
	defer conn.Close()
	var replies []sweepReply
	seen := map[string]bool{}
	readDone := make(chan struct{})
	go func() {
		defer close(readDone)
		buf := make([]byte, 128)
		for {
			n, _, err := conn.ReadFrom(buf)
			if err != nil {
				return // closed or deadline
			}
			if ip, mac, ok := parseARPReply(buf[:n]); ok && !seen[ip.String()] {
				seen[ip.String()] = true
				replies = append(replies, sweepReply{IP: ip, MAC: mac})
			}
		}
	}()
	sent := 0
	tick := time.NewTicker(time.Second / time.Duration(max(r.Rate, 1)))
	defer tick.Stop()
	var sendErr error
	bcast := &packet.Addr{HardwareAddr: net.HardwareAddr{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}}
loop:
	for _, t := range r.Targets {
		frame, err := arpRequest(ifi.HardwareAddr, r.Source, t)
		if err != nil {
			sendErr = err
			break
		}
		if _, err := conn.WriteTo(frame, bcast); err != nil {
			sendErr = fmt.Errorf("arp sweep on %s: send: %w", ifi.Name, err)
			break
		}
		sent++
		select {
		case <-ctx.Done():
			break loop
		case <-tick.C:
		}
	}
	deadline := time.Now().Add(r.Linger)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	if err := conn.SetReadDeadline(deadline); err != nil {
		conn.Close()
	}
	<-readDone
	if sendErr == nil {
		sendErr = ctx.Err()
	}
	return sent, replies, sendErr
}
