package transport

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"go.uber.org/zap"
)

const (
	queueJournalName = "journal.fwq"
	queueLockName    = "queue.lock"
	queueTmpSuffix   = ".tmp"
)

func (q *Queue) segmentPath(num uint64) string {
	return filepath.Join(q.opts.Dir, fmt.Sprintf("seg-%016x.fwq", num))
}

func (q *Queue) journalPath() string { return filepath.Join(q.opts.Dir, queueJournalName) }

// run is the flusher goroutine: it commits pending batches one after the
// other until Close, then commits what is left.
func (q *Queue) run() {
	defer close(q.stopped)
	for {
		select {
		case <-q.kick:
			q.flush()
		case <-q.closing:
			q.flush()
			return
		}
	}
}

// flush commits the pending batch, if any: while it writes and syncs, new
// records and acks gather in the next batch (group commit). Then it tidies
// up the files.
func (q *Queue) flush() {
	q.mu.Lock()
	b := q.pending
	if b.empty() {
		q.mu.Unlock()
		return
	}
	q.pending = newQueueBatch()
	err := q.failed
	q.mu.Unlock()

	var journalBytes int64
	if err == nil {
		journalBytes, err = q.write(b)
	}

	q.mu.Lock()
	if err == nil {
		for _, c := range b.chunks {
			c.seg.size = c.off + int64(len(c.buf))
		}
		q.journalSize += journalBytes
		if b.lastID != 0 {
			q.durableNext = b.lastID + 1
		}
		for p, n := range b.drops {
			q.durableDrops[p] += n
		}
		q.commits++
	} else {
		q.fail(err)
	}
	q.mu.Unlock()
	b.err = err
	close(b.done)
	if err != nil {
		return
	}
	if b.lastID != 0 {
		select {
		case q.ready <- struct{}{}:
		default:
		}
	}
	if err := q.maintain(); err != nil {
		q.mu.Lock()
		q.fail(err)
		q.mu.Unlock()
	}
}

// fail makes the queue refuse writes from now on. Called with mu held.
func (q *Queue) fail(err error) {
	if q.failed == nil {
		q.failed = err
		q.log.Error("queue: write failed; the queue refuses writes until it is reopened", zap.Error(err))
	}
}

// write appends a batch to the segment files and the journal and syncs
// them. It returns the bytes appended to the journal.
func (q *Queue) write(b *queueBatch) (int64, error) {
	var (
		touched []*queueSegment
		created bool
	)
	for _, c := range b.chunks {
		if c.seg.f == nil {
			f, err := q.createSegment(c.seg.path)
			if err != nil {
				return 0, err
			}
			c.seg.f, created = f, true
		}
		if _, err := c.seg.f.WriteAt(c.buf, c.off); err != nil {
			return 0, fmt.Errorf("queue: write %s: %w", c.seg.path, err)
		}
		if len(touched) == 0 || touched[len(touched)-1] != c.seg {
			touched = append(touched, c.seg)
		}
	}
	if !q.opts.NoSync {
		for _, s := range touched {
			if err := s.f.Sync(); err != nil {
				return 0, fmt.Errorf("queue: sync %s: %w", s.path, err)
			}
		}
		if created {
			if err := syncQueueDir(q.opts.Dir); err != nil {
				return 0, err
			}
		}
	}
	if len(b.dead) == 0 && b.drops == [queuePriorities]uint64{} {
		return 0, nil
	}
	buf := appendQueueDead(nil, queueRunsOf(b.dead))
	if b.drops != [queuePriorities]uint64{} {
		buf = appendQueueDrops(buf, b.drops)
	}
	if _, err := q.journal.WriteAt(buf, q.journalSize); err != nil {
		return 0, fmt.Errorf("queue: write %s: %w", q.journalPath(), err)
	}
	if !q.opts.NoSync {
		if err := q.journal.Sync(); err != nil {
			return 0, fmt.Errorf("queue: sync %s: %w", q.journalPath(), err)
		}
	}
	return int64(len(buf)), nil
}

// createSegment creates a new segment file with its header. The caller
// syncs it.
func (q *Queue) createSegment(p string) (*os.File, error) {
	f, err := os.OpenFile(p, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, fmt.Errorf("queue: create %s: %w", p, err)
	}
	if _, err := f.Write(appendQueueHeader(nil, queueSegmentMagic)); err != nil {
		f.Close()
		return nil, fmt.Errorf("queue: write %s: %w", p, err)
	}
	return f, nil
}

// maintain deletes the segments whose records are all dead, rewrites one
// segment that is more than half dead, and rewrites the journal when it has
// outgrown a segment. It runs in the flusher, between commits.
func (q *Queue) maintain() error {
	q.mu.Lock()
	var (
		deleted []*queueSegment
		compact *queueSegment
		keep    = q.segs[:0]
	)
	for _, s := range q.segs {
		sealed := s != q.active && s.size == s.end // nothing more will be written to it
		switch {
		case sealed && s.live == 0:
			deleted = append(deleted, s)
		case sealed && compact == nil && 2*s.liveBytes < s.size-queueHeaderLen:
			compact = s
			keep = append(keep, s)
		default:
			keep = append(keep, s)
		}
	}
	clear(q.segs[len(keep):])
	q.segs = keep
	journalDue := q.journalSize > max(q.opts.SegmentBytes, 64<<10) && q.journalSize > 2*q.journalBase
	q.mu.Unlock()

	var errs []error
	for _, s := range deleted {
		// Windows deletes no open file: close first.
		if err := s.f.Close(); err != nil {
			errs = append(errs, fmt.Errorf("queue: close %s: %w", s.path, err))
		}
		if err := os.Remove(s.path); err != nil {
			errs = append(errs, fmt.Errorf("queue: delete %s: %w", s.path, err))
		}
	}
	// The deletions must be on disk before a rewritten journal forgets the
	// dead IDs of those segments.
	if len(deleted) > 0 && !q.opts.NoSync {
		errs = append(errs, syncQueueDir(q.opts.Dir))
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	if compact != nil {
		errs = append(errs, q.compactSegment(compact))
	}
	if journalDue {
		errs = append(errs, q.rewriteJournal())
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	if (compact != nil || journalDue) && !q.opts.NoSync {
		return syncQueueDir(q.opts.Dir)
	}
	return nil
}

// compactSegment rewrites a sealed segment with only its live records, and
// points their index entries at their new offsets. Records that die while
// it copies stay in the new file, dead, as the journal says.
func (q *Queue) compactSegment(s *queueSegment) error {
	q.mu.Lock()
	var keep []*queueEntry
	for i := q.order.search(s.firstID); i < len(q.order.items) && q.order.items[i].id <= s.lastID; i++ {
		if e := q.order.items[i]; !e.dead {
			keep = append(keep, e)
		}
	}
	size, live := s.size, s.liveBytes
	q.mu.Unlock()

	old := make([]byte, size)
	if _, err := s.f.ReadAt(old, 0); err != nil {
		return fmt.Errorf("queue: compact: read %s: %w", s.path, err)
	}
	buf := appendQueueHeader(make([]byte, 0, queueHeaderLen+live), queueSegmentMagic)
	offs := make([]int64, len(keep))
	for i, e := range keep {
		offs[i] = int64(len(buf))
		buf = append(buf, old[e.off:e.off+e.size]...)
	}
	tmp := s.path + queueTmpSuffix
	if err := q.writeFileSynced(tmp, buf); err != nil {
		return fmt.Errorf("queue: compact: %w", err)
	}

	q.mu.Lock()
	defer q.mu.Unlock()
	// Windows renames over no open file: close first.
	if err := s.f.Close(); err != nil {
		return fmt.Errorf("queue: compact: close %s: %w", s.path, err)
	}
	renameErr := renameQueueFile(tmp, s.path)
	f, err := os.OpenFile(s.path, os.O_RDWR, 0)
	s.f = f
	if err := errors.Join(renameErr, err); err != nil {
		return fmt.Errorf("queue: compact %s: %w", s.path, err)
	}
	for i, e := range keep {
		e.off = offs[i]
	}
	s.size, s.end = int64(len(buf)), int64(len(buf))
	return nil
}

// rewriteJournal replaces the journal with a state frame and the dead IDs
// of the remaining segments. The caller syncs the directory.
func (q *Queue) rewriteJournal() error {
	q.mu.Lock()
	buf := appendQueueHeader(nil, queueJournalMagic)
	buf = appendQueueState(buf, q.nextID, q.durableDrops)
	buf = appendQueueDead(buf, q.deadRuns())
	q.mu.Unlock()

	p := q.journalPath()
	tmp := p + queueTmpSuffix
	if err := q.writeFileSynced(tmp, buf); err != nil {
		return fmt.Errorf("queue: rewrite journal: %w", err)
	}
	if q.journal != nil {
		// Windows renames over no open file: close first.
		if err := q.journal.Close(); err != nil {
			return fmt.Errorf("queue: rewrite journal: close %s: %w", p, err)
		}
		q.journal = nil
	}
	if err := renameQueueFile(tmp, p); err != nil {
		return fmt.Errorf("queue: rewrite journal: %w", err)
	}
	f, err := os.OpenFile(p, os.O_RDWR, 0)
	if err != nil {
		return fmt.Errorf("queue: rewrite journal: %w", err)
	}
	q.journal = f
	q.mu.Lock()
	q.journalSize, q.journalBase = int64(len(buf)), int64(len(buf))
	q.mu.Unlock()
	return nil
}

// deadRuns returns the IDs of the segments' ranges that are not live: what
// the journal must keep saying is dead. Called with mu held.
func (q *Queue) deadRuns() []queueRun {
	var runs []queueRun
	for _, s := range q.segs {
		if s.firstID == 0 {
			continue
		}
		next := s.firstID
		for i := q.order.search(s.firstID); i < len(q.order.items) && q.order.items[i].id <= s.lastID; i++ {
			e := q.order.items[i]
			if e.dead {
				continue
			}
			if e.id > next {
				runs = append(runs, queueRun{next, e.id - next})
			}
			next = e.id + 1
		}
		if next <= s.lastID {
			runs = append(runs, queueRun{next, s.lastID - next + 1})
		}
	}
	return runs
}

// writeFileSynced writes a new file p holding data and syncs it.
func (q *Queue) writeFileSynced(p string, data []byte) error {
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if err == nil && !q.opts.NoSync {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("write %s: %w", p, err)
	}
	return nil
}

// writeQueueLockPID writes this process's ID into the lock file, for the
// error another process gets.
func writeQueueLockPID(f *os.File) error {
	err := f.Truncate(0)
	if err == nil {
		_, err = f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	}
	if err != nil {
		return fmt.Errorf("queue: write %s: %w", f.Name(), err)
	}
	return nil
}

// queueLockHolder names the process that holds the lock file p.
func queueLockHolder(p string) string {
	b, err := os.ReadFile(p)
	if pid, perr := strconv.Atoi(strings.TrimSpace(string(b))); err == nil && perr == nil {
		return fmt.Sprintf("process %d", pid)
	}
	return "another process"
}

// closeFiles closes the segment files, the journal and the lock.
func (q *Queue) closeFiles() error {
	var errs []error
	for _, s := range q.segs {
		if s.f != nil {
			if err := s.f.Close(); err != nil {
				errs = append(errs, fmt.Errorf("queue: close %s: %w", s.path, err))
			}
		}
	}
	if q.journal != nil {
		if err := q.journal.Close(); err != nil {
			errs = append(errs, fmt.Errorf("queue: close %s: %w", q.journalPath(), err))
		}
	}
	if err := q.lock.Close(); err != nil {
		errs = append(errs, fmt.Errorf("queue: unlock %s: %w", q.opts.Dir, err))
	}
	return errors.Join(errs...)
}
