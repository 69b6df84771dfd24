package localapi

import (
	"fmt"
	"os"
	"syscall"

	"golang.org/x/sys/unix"
)

// peerCredentials reads SO_PEERCRED (uid, gid, pid at connect time) and the
// caller's supplementary groups from /proc/PID/status.
func peerCredentials(raw syscall.RawConn) (credentials, error) {
	var (
		uc   *unix.Ucred
		serr error
	)
	if err := raw.Control(func(fd uintptr) { uc, serr = unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED) }); err != nil {
		return credentials{}, fmt.Errorf("SO_PEERCRED: %w", err)
	}
	if serr != nil {
		return credentials{}, fmt.Errorf("SO_PEERCRED: %w", serr)
	}
	c := credentials{uid: int(uc.Uid), pid: int(uc.Pid), gids: []int{int(uc.Gid)}}
	if status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", uc.Pid)); err == nil {
		if gids, err := parseProcGroups(status); err == nil {
			c.gids, c.groupsKnown = append(c.gids, gids...), true
		}
	}
	return c, nil
}
