package localapi

import (
	"fmt"
	"syscall"

	"golang.org/x/sys/unix"
)

// peerCredentials reads LOCAL_PEERCRED (uid and groups) and LOCAL_PEERPID.
func peerCredentials(raw syscall.RawConn) (credentials, error) {
	var (
		xu         *unix.Xucred
		pid        int
		serr, perr error
	)
	if err := raw.Control(func(fd uintptr) {
		xu, serr = unix.GetsockoptXucred(int(fd), unix.SOL_LOCAL, unix.LOCAL_PEERCRED)
		pid, perr = unix.GetsockoptInt(int(fd), unix.SOL_LOCAL, unix.LOCAL_PEERPID)
	}); err != nil {
		return credentials{}, fmt.Errorf("LOCAL_PEERCRED: %w", err)
	}
	if serr != nil {
		return credentials{}, fmt.Errorf("LOCAL_PEERCRED: %w", serr)
	}
	if perr != nil {
		pid = -1
	}
	c := credentials{uid: int(xu.Uid), pid: pid, groupsKnown: true}
	for i := 0; i < int(xu.Ngroups) && i < len(xu.Groups); i++ {
		c.gids = append(c.gids, int(xu.Groups[i]))
	}
	return c, nil
}
