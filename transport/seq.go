package transport

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
)

// SeqFileName holds the sequence numbers reserved so far.
const SeqFileName = "seq"

// seqBlock is how many sequence numbers one durable write reserves.
const seqBlock = 1024

// SeqCounter hands out the device's report sequence numbers: strictly
// increasing across restarts and crashes. It reserves blocks of numbers
// with one synced write each, so a crash skips at most the rest of a
// block (gaps are harmless; reuse would make the collector drop reports
// as duplicates).
type SeqCounter struct {
	mu       sync.Mutex
	path     string
	next     uint64
	reserved uint64
}

// OpenSeqCounter reads the counter of a state directory.
func OpenSeqCounter(dir string) (*SeqCounter, error) {
	c := &SeqCounter{path: filepath.Join(dir, SeqFileName)}
	data, err := os.ReadFile(c.path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return nil, fmt.Errorf("seq: %w", err)
	default:
		v, err := strconv.ParseUint(strings.TrimSpace(string(data)), 10, 64)
		if err != nil {
			return nil, fmt.Errorf("seq: %s is damaged (%q); refusing to reuse sequence numbers — remove it only after re-enrolling", c.path, data)
		}
		c.reserved = v
	}
	c.next = c.reserved + 1
	return c, nil
}

// Next returns the next sequence number.
func (c *SeqCounter) Next() (uint64, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.next > c.reserved {
		r := c.reserved + seqBlock
		if err := WriteFileAtomic(c.path, []byte(strconv.FormatUint(r, 10)+"\n"), 0o644); err != nil {
			return 0, fmt.Errorf("seq: %w", err)
		}
		c.reserved = r
	}
	n := c.next
	c.next++
	return n, nil
}
