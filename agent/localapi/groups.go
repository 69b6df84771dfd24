//go:build !windows

package localapi

import (
	"bufio"
	"bytes"
	"fmt"
	"os/user"
	"slices"
	"strconv"
	"strings"

	"go.uber.org/zap"
)

// credentials are a unix caller's identity as the kernel reports it.
type credentials struct {
	uid, pid int
	// gids are the caller's groups (primary and supplementary) when the
	// kernel reported them; otherwise they are looked up by user.
	gids        []int
	groupsKnown bool
}

// parseProcGroups reads the supplementary groups of a Linux process from
// the text of /proc/PID/status ("Groups:\t4 24 27 \n").
func parseProcGroups(status []byte) ([]int, error) {
	sc := bufio.NewScanner(bytes.NewReader(status))
	for sc.Scan() {
		rest, ok := strings.CutPrefix(sc.Text(), "Groups:")
		if !ok {
			continue
		}
		var gids []int
		for _, f := range strings.Fields(rest) {
			g, err := strconv.Atoi(f)
			if err != nil || g < 0 {
				return nil, fmt.Errorf("process status: bad group %q", f)
			}
			gids = append(gids, g)
		}
		return gids, nil
	}
	return nil, fmt.Errorf("process status: no Groups line")
}

// userGroups looks up the groups of uid in the user database (what a
// login gives the user), for when the kernel did not report the caller's.
func userGroups(uid int) ([]int, error) {
	u, err := user.LookupId(strconv.Itoa(uid))
	if err != nil {
		return nil, err
	}
	ids, err := u.GroupIds()
	if err != nil {
		return nil, err
	}
	var gids []int
	for _, id := range ids {
		if g, err := strconv.Atoi(id); err == nil {
			gids = append(gids, g)
		}
	}
	return gids, nil
}

// resolveGroups maps admin group names to group ids; a name this system
// does not have is skipped (logged at debug: the defaults name groups of
// several distributions).
func resolveGroups(names []string, log *zap.Logger) []int {
	var gids []int
	for _, n := range names {
		g, err := user.LookupGroup(n)
		if err != nil {
			log.Debug("admin group not on this system", zap.String("group", n), zap.Error(err))
			continue
		}
		if id, err := strconv.Atoi(g.Gid); err == nil {
			gids = append(gids, id)
		}
	}
	return gids
}

// isAdmin: root, or a member of one of the admin groups.
func isAdmin(c credentials, adminGIDs []int) bool {
	if c.uid == 0 {
		return true
	}
	for _, g := range c.gids {
		if slices.Contains(adminGIDs, g) {
			return true
		}
	}
	return false
}
