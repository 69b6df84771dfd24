package transport

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"go.uber.org/zap"
)

// recover rebuilds the queue's state from its directory: it refuses an
// unknown format before changing anything, replays the journal, reads every
// segment (skipping and logging damage), repairs damaged segments, deletes
// dead ones and rewrites the journal.
func (q *Queue) recover() error {
	dir := q.opts.Dir
	ents, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("queue: open %s: %w", dir, err)
	}
	var (
		nums       []uint64
		tmps       []string
		hasJournal bool
	)
	for _, e := range ents {
		name := e.Name()
		if base, ok := strings.CutSuffix(name, queueTmpSuffix); ok {
			if _, seg := parseQueueSegmentName(base); seg || base == queueJournalName {
				tmps = append(tmps, filepath.Join(dir, name))
			}
			continue
		}
		if name == queueJournalName {
			hasJournal = true
		} else if n, ok := parseQueueSegmentName(name); ok {
			nums = append(nums, n)
		}
	}
	slices.Sort(nums)

	// Refuse a format this build does not read before changing anything.
	if hasJournal {
		if err := checkQueueVersion(q.journalPath(), queueJournalMagic); err != nil {
			return err
		}
	}
	for _, n := range nums {
		if err := checkQueueVersion(q.segmentPath(n), queueSegmentMagic); err != nil {
			return err
		}
	}

	for _, p := range tmps {
		if err := os.Remove(p); err != nil {
			q.log.Warn("queue: cannot delete a leftover temporary file", zap.String("file", p), zap.Error(err))
		}
	}
	var (
		dead  queueRunSet
		floor uint64
	)
	if hasJournal {
		if floor, err = q.replayJournal(&dead); err != nil {
			return err
		}
	}
	var maxID uint64
	for _, n := range nums {
		s, damaged, err := q.loadSegment(n, dead, &maxID)
		if err != nil {
			return err
		}
		if s.f, err = os.OpenFile(s.path, os.O_RDWR, 0); err != nil {
			return fmt.Errorf("queue: open %s: %w", s.path, err)
		}
		q.segs = append(q.segs, s)
		if damaged {
			if err := q.compactSegment(s); err != nil {
				return err
			}
			q.recovered += uint64(s.live)
			q.log.Warn("queue: repaired a damaged segment", zap.String("file", s.path), zap.Int("records_kept", s.live))
		}
	}
	q.nextID = max(1, floor, maxID+1, dead.end())
	q.durableNext = q.nextID
	if len(nums) > 0 {
		q.nextSeg = nums[len(nums)-1] + 1
	}
	if n := len(q.segs); n > 0 && q.segs[n-1].size < q.opts.SegmentBytes {
		q.active = q.segs[n-1]
	}
	if err := q.maintain(); err != nil {
		return err
	}
	if err := q.rewriteJournal(); err != nil {
		return err
	}
	if !q.opts.NoSync {
		if err := syncQueueDir(dir); err != nil {
			return err
		}
	}
	q.log.Debug("queue: opened", zap.Int("records", q.live), zap.Int64("bytes", q.bytes),
		zap.Int("segments", len(q.segs)), zap.Uint64("next_id", q.nextID),
		zap.Uint64s("drops", q.drops[:]), zap.Uint64("skipped_bytes", q.skipped))
	return nil
}

// parseQueueSegmentName returns the number of a segment file name.
func parseQueueSegmentName(name string) (uint64, bool) {
	hex, okPrefix := strings.CutPrefix(name, "seg-")
	hex, okSuffix := strings.CutSuffix(hex, ".fwq")
	if !okPrefix || !okSuffix || len(hex) != 16 {
		return 0, false
	}
	n, err := strconv.ParseUint(hex, 16, 64)
	return n, err == nil
}

// checkQueueVersion returns an ErrVersion error when the file at p has
// another format version than this build's.
func checkQueueVersion(p string, magic [4]byte) error {
	f, err := os.Open(p)
	if err != nil {
		return fmt.Errorf("queue: open %s: %w", p, err)
	}
	defer f.Close()
	b := make([]byte, queueHeaderLen)
	n, err := io.ReadFull(f, b)
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
		return fmt.Errorf("queue: open %s: %w", p, err)
	}
	if v, ok := queueHeaderVersion(b[:n], magic); ok && v != queueFormatVersion {
		return fmt.Errorf("queue: open %s: format version %d, this build reads version %d (nothing was changed): %w",
			p, v, queueFormatVersion, ErrVersion)
	}
	return nil
}

// replayJournal reads the journal: it adds the dead IDs to dead, sets the
// drop counts, and returns the next ID the journal saw.
func (q *Queue) replayJournal(dead *queueRunSet) (uint64, error) {
	p := q.journalPath()
	b, err := os.ReadFile(p)
	if err != nil {
		return 0, fmt.Errorf("queue: open %s: %w", p, err)
	}
	var (
		floor   uint64
		damaged bool
		start   = queueHeaderLen
	)
	if !queueHeaderOK(b, queueJournalMagic) {
		start = 0
	}
	scanQueueFrames(b, start, queueJEntryMagic, queueMaxJournalBody, func(_ int, body []byte) bool {
		e, ok := decodeQueueJournal(body)
		if !ok {
			return false
		}
		switch e.kind {
		case queueJournalState:
			floor = max(floor, e.nextID)
			q.drops = e.drops
		case queueJournalDead:
			*dead = append(*dead, e.runs...)
		case queueJournalDrops:
			for i, n := range e.drops {
				q.drops[i] += n
			}
		}
		return true
	}, q.damageLogger(p, len(b), &damaged))
	if damaged {
		q.log.Warn("queue: the journal was damaged: acks in the damaged part are lost (those records will be sent again) and drop counts may be low",
			zap.String("file", p))
	}
	dead.normalize()
	q.durableDrops = q.drops
	return floor, nil
}

// loadSegment reads segment num and indexes its live records. IDs must
// increase through the segments: *maxID is the highest seen so far.
func (q *Queue) loadSegment(num uint64, dead queueRunSet, maxID *uint64) (*queueSegment, bool, error) {
	s := &queueSegment{num: num, path: q.segmentPath(num)}
	b, err := os.ReadFile(s.path)
	if err != nil {
		return nil, false, fmt.Errorf("queue: open %s: %w", s.path, err)
	}
	s.size, s.end = int64(len(b)), int64(len(b))
	damaged := false
	start := queueHeaderLen
	if !queueHeaderOK(b, queueSegmentMagic) {
		start = 0
	}
	scanQueueFrames(b, start, queueRecordMagic, queueMaxRecordBody, func(off int, body []byte) bool {
		r, ok := decodeQueueRecord(body)
		if !ok || r.id <= *maxID {
			return false
		}
		*maxID = r.id
		if s.firstID == 0 {
			s.firstID = r.id
		}
		s.lastID = r.id
		if !dead.has(r.id) {
			q.index(&queueEntry{id: r.id, at: r.at, seg: s, off: int64(off), size: int64(queueFrameHeaderLen + len(body)), prio: r.prio})
		}
		return true
	}, q.damageLogger(s.path, len(b), &damaged))
	return s, damaged, nil
}

// damageLogger returns a scanQueueFrames callback that counts and logs
// damaged bytes of file p, of size bytes, and sets *hit.
func (q *Queue) damageLogger(p string, size int, hit *bool) func(off, n int) {
	return func(off, n int) {
		*hit = true
		q.skipped += uint64(n)
		q.log.Warn("queue: skipped damaged bytes", zap.String("file", p), zap.Int("offset", off),
			zap.Int("bytes", n), zap.Bool("at_end", off+n == size))
	}
}
