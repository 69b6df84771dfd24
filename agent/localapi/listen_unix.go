//go:build !windows

package localapi

import (
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"go.uber.org/zap"
)

// listen creates the unix socket: its directory 0755 when it has to create
// it, the socket 0666 so any local user can connect (privileged endpoints
// check the caller's credentials instead). A stale socket left by a crash
// is replaced; a live one, or a file that is not a socket, is not.
func listen(endpoint string, adminGroups []string, log *zap.Logger) ([]net.Listener, error) {
	dir := filepath.Dir(endpoint)
	if _, err := os.Stat(dir); errors.Is(err, fs.ErrNotExist) {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, err
		}
		if err := os.Chmod(dir, 0o755); err != nil { // past the umask
			return nil, err
		}
	}
	if err := removeStale(endpoint); err != nil {
		return nil, err
	}
	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: endpoint, Net: "unix"})
	if err != nil {
		return nil, err
	}
	if err := os.Chmod(endpoint, 0o666); err != nil {
		l.Close()
		return nil, err
	}
	admins := resolveGroups(adminGroups, log)
	identify := func(c net.Conn) Peer { return identifyUnix(c, admins, log) }
	return []net.Listener{newIdentifyingListener(l, identify)}, nil
}

func removeStale(path string) error {
	fi, err := os.Lstat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if fi.Mode()&fs.ModeSocket == 0 {
		return fmt.Errorf("%s exists and is not a socket; refusing to replace it", path)
	}
	c, err := net.DialTimeout("unix", path, time.Second)
	if err == nil {
		c.Close()
		return fmt.Errorf("another process already serves %s (is a second farmwatch running?)", path)
	}
	if !errors.Is(err, syscall.ECONNREFUSED) {
		return fmt.Errorf("check socket %s: %w", path, err)
	}
	return os.Remove(path)
}

// identifyUnix reads the caller's credentials from the socket. A caller
// whose credentials cannot be read is nobody (uid -1, not an admin).
func identifyUnix(c net.Conn, adminGIDs []int, log *zap.Logger) Peer {
	p := Peer{UID: -1, PID: -1, Via: "unix socket"}
	uc, ok := c.(*net.UnixConn)
	if !ok {
		return p
	}
	raw, err := uc.SyscallConn()
	if err != nil {
		log.Warn("local API: caller not identified", zap.Error(err))
		return p
	}
	cred, err := peerCredentials(raw)
	if err != nil {
		log.Warn("local API: caller not identified", zap.Error(err))
		return p
	}
	if !cred.groupsKnown {
		if gids, err := userGroups(cred.uid); err == nil {
			cred.gids = append(cred.gids, gids...)
		} else {
			log.Debug("local API: caller's groups not found", zap.Int("uid", cred.uid), zap.Error(err))
		}
	}
	p.UID, p.PID, p.Admin = cred.uid, cred.pid, isAdmin(cred, adminGIDs)
	return p
}
