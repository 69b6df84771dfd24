//go:build unix

package transport

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// lockQueueDir takes the queue's lock file in dir (flock, released when the
// file is closed or the process dies).
func lockQueueDir(dir string) (*os.File, error) {
	p := filepath.Join(dir, queueLockName)
	f, err := os.OpenFile(p, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("queue: open %s: %w", p, err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, unix.EWOULDBLOCK) {
			return nil, fmt.Errorf("queue: open %s: %w: %s is held by %s", dir, ErrLocked, p, queueLockHolder(p))
		}
		return nil, fmt.Errorf("queue: lock %s: %w", p, err)
	}
	if err := writeQueueLockPID(f); err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

// syncQueueDir fsyncs a directory, so that files created, renamed or
// deleted in it stay so after a power cut.
func syncQueueDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("queue: sync %s: %w", dir, err)
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("queue: sync %s: %w", dir, err)
	}
	return nil
}

// renameQueueFile renames from over to; the caller syncs the directory.
func renameQueueFile(from, to string) error { return os.Rename(from, to) }
