//go:build !windows

package transport

import (
	"fmt"
	"os"
)

// checkPrivate refuses a secret file that group or others can read.
func checkPrivate(path string) error {
	st, err := os.Stat(path)
	if err != nil {
		return err
	}
	if st.Mode().Perm()&0o077 != 0 {
		return fmt.Errorf("%s is readable by others (mode %v); it must be 0600", path, st.Mode().Perm())
	}
	return nil
}
