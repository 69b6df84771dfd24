package transport

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"golang.org/x/sys/windows"
)

// lockQueueDir takes the queue's lock file in dir (LockFileEx, released
// when the handle is closed or the process dies). The locked byte lies past
// the end of the file, so that the pid written at its start stays readable.
func lockQueueDir(dir string) (*os.File, error) {
	p := filepath.Join(dir, queueLockName)
	f, err := os.OpenFile(p, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("queue: open %s: %w", p, err)
	}
	ol := &windows.Overlapped{OffsetHigh: 1}
	err = windows.LockFileEx(windows.Handle(f.Fd()), windows.LOCKFILE_EXCLUSIVE_LOCK|windows.LOCKFILE_FAIL_IMMEDIATELY, 0, 1, 0, ol)
	if err != nil {
		f.Close()
		if errors.Is(err, windows.ERROR_LOCK_VIOLATION) {
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

// syncQueueDir does nothing on Windows: NTFS journals directory changes,
// and a directory cannot be flushed through a handle os.Open returns.
func syncQueueDir(string) error { return nil }

// renameQueueFile renames from over to, and returns once the rename is on
// disk (MOVEFILE_WRITE_THROUGH).
func renameQueueFile(from, to string) error {
	f16, err := windows.UTF16PtrFromString(from)
	if err != nil {
		return fmt.Errorf("rename %s: %w", from, err)
	}
	t16, err := windows.UTF16PtrFromString(to)
	if err != nil {
		return fmt.Errorf("rename %s: %w", to, err)
	}
	if err := windows.MoveFileEx(f16, t16, windows.MOVEFILE_REPLACE_EXISTING|windows.MOVEFILE_WRITE_THROUGH); err != nil {
		return fmt.Errorf("rename %s to %s: %w", from, to, err)
	}
	return nil
}
