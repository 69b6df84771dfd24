package transport

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"sync"
	"time"

	"go.uber.org/zap"
)

// Errors of the Queue; test for them with errors.Is.
var (
	// ErrFull: a protected record was not stored because the queue already
	// holds HardMaxBytes that may not be dropped. The caller keeps the record
	// and offers it again once the sender has drained the queue.
	ErrFull = errors.New("queue full")
	// ErrDropped: an unprotected record was dropped on arrival because the
	// queue is full and nothing of a lower priority, nor anything older of
	// its own priority, could make room. The drop is counted in
	// QueueStats.Drops like any other.
	ErrDropped = errors.New("record dropped, queue full")
	// ErrTooLarge: a record's data is larger than MaxBytes (or 64 MiB) and
	// can never be stored. It is not counted as a drop.
	ErrTooLarge = errors.New("record too large for the queue")
	// ErrClosed: the Queue was closed.
	ErrClosed = errors.New("queue closed")
	// ErrLocked: another Queue, in this process or another, has the directory open.
	ErrLocked = errors.New("queue directory in use")
	// ErrVersion: a file in the directory has a format version this build
	// does not read. Nothing was changed on disk.
	ErrVersion = errors.New("unknown queue format version")
)

// QueueOptions configures OpenQueue. Zero values select the defaults.
type QueueOptions struct {
	Dir          string      // created 0700 if missing
	MaxBytes     int64       // live record bytes (data + 29 bytes each); default 256 MiB
	HardMaxBytes int64       // ceiling for protected records; default MaxBytes + MaxBytes/4
	SegmentBytes int64       // segment file size; default 8 MiB
	ProtectFrom  uint8       // lowest protected priority, 1..5 (5: none); default 3 (high)
	NoSync       bool        // tests and benchmarks only: skip every fsync
	Log          *zap.Logger // nil: no logging
}

// QueueItem is a record as Peek returns it. EnqueueBatch reads only
// Priority and Data.
type QueueItem struct {
	ID         uint64
	Priority   uint8 // 0 info, 1 low, 2 medium, 3 high, 4 critical
	Data       []byte
	EnqueuedAt time.Time
}

// QueueStats is a snapshot of the queue. Drops is cumulative over the
// queue's whole life (it is persisted); Recovered, Skipped and Commits count
// since OpenQueue.
type QueueStats struct {
	Depth     int                     // records stored and not yet acked or dropped
	Bytes     int64                   // their bytes as MaxBytes counts them
	DiskBytes int64                   // size of the segment and journal files
	Drops     [queuePriorities]uint64 // records dropped for room, by priority
	Recovered uint64                  // records kept from damaged segment files at open
	Skipped   uint64                  // damaged bytes skipped at open or on read
	Commits   uint64                  // group commits (one write + fsync round each)
}

// Queue is the agent's durable outbound queue: reports wait in it, on disk,
// until the collector has acknowledged them. One process uses a directory at
// a time (a lock file, flock or LockFileEx, enforces it); a Queue is safe
// for concurrent use.
//
// # Delivery
//
// At least once. Peek returns the oldest records (by ID) without removing
// them, and returns them again, also after a restart, until Ack removes them.
// A crash between sending and Ack sends them twice; the collector dedupes on
// (device_id, seq), which travel inside the record data: the queue never
// reads the data. IDs increase across restarts. Ready signals a sender loop
// that records became available.
//
// # Durability and fsync policy
//
// Enqueue, EnqueueBatch and Ack return nil only once their effect is on
// stable storage: records are appended to the active segment file, which is
// then fsync'd (F_FULLFSYNC on macOS, FlushFileBuffers on Windows), together
// with the directory when the segment file is new (not on Windows, where
// NTFS journals it); acks and drop counts are appended to the journal file,
// which is fsync'd too. Concurrent callers share these writes (group
// commit): one goroutine writes everything enqueued or acked while the
// previous fsync ran and syncs once, and EnqueueBatch stores many records
// with one fsync. A file is only ever replaced by writing a temporary file,
// fsyncing it and renaming it over the old one (MOVEFILE_WRITE_THROUGH on
// Windows). So a record whose Enqueue returned nil survives kill -9 at any
// moment and a power cut; an ack that returned nil stays acked. NoSync skips
// every fsync: records then survive kill -9 but not a power cut.
// A failed write or fsync leaves what reached the disk unknown, so the queue
// then refuses further writes with an error saying so; Close it and open it
// again, which recovers from what is on disk.
//
// # Capacity
//
// Live records may take MaxBytes (data plus a 29-byte header each). When a
// record does not fit, records are dropped to make room, lowest priority
// first and oldest first within a priority, down to the new record's own
// priority; protected records (priority >= ProtectFrom) are never dropped.
// An unprotected record that would need more than that is itself dropped
// (Enqueue returns ErrDropped). A protected record drops every unprotected
// record it needs and, if that is not enough, is still stored as long as the
// queue stays within HardMaxBytes; beyond, Enqueue returns ErrFull, nothing
// is dropped and the record is not stored. Every drop is counted by
// priority; the counts are persisted and cumulative (QueueStats.Drops).
//
// # Files and recovery
//
// Dir holds queue.lock, journal.fwq and segment files seg-<16 hex
// digits>.fwq. Each starts with an 8-byte header: magic "FWQS" (segment) or
// "FWQJ" (journal), format version (uint16, now 1), two zero bytes. Then
// come frames: magic (4 bytes), CRC-32C (Castagnoli) of the length and body,
// body length, body; integers are little-endian. A segment's frames are data
// records: ID, enqueue time (Unix ns), priority, data, in increasing ID
// order. The journal holds a state frame (next ID, cumulative drops) and
// then frames appended as the queue runs: dead ID runs (acked or dropped)
// and drop counts. Records are appended to the active segment until it
// reaches SegmentBytes. A segment is deleted once all its records are dead;
// one that is more than half dead is rewritten with its live records only,
// so disk use tracks live bytes. The journal is rewritten (state plus the
// dead IDs of remaining segments) when it outgrows a segment, and at open.
//
// At open, every frame is checked. A torn tail, a damaged header and
// corrupt bytes anywhere are skipped and logged (file, offset, bytes), the
// reader resynchronises on the next valid frame so that records after the
// damage are kept, and a damaged file is rewritten with what was kept. A
// file with another format version is refused (ErrVersion) before anything
// is changed, so a newer queue survives a downgrade untouched.
type Queue struct {
	opts    QueueOptions
	log     *zap.Logger
	lock    *os.File      // held while open
	ready   chan struct{} // buffered 1; see Ready
	kick    chan struct{} // buffered 1; wakes the flusher
	closing chan struct{} // closed by Close
	stopped chan struct{} // closed when the flusher has returned

	// journal is used by the flusher goroutine only (and by OpenQueue before
	// it starts, Close after it stopped).
	journal *os.File

	mu      sync.Mutex
	closed  bool
	failed  error       // first write error; the queue refuses writes after it
	pending *queueBatch // what the next commit writes
	segs    []*queueSegment
	active  *queueSegment // segment that receives new records, or nil
	nextSeg uint64

	order     queueList                  // live records by ID; dead ones removed lazily
	byPrio    [queuePriorities]queueList // the same, one list per priority
	prioBytes [queuePriorities]int64
	live      int
	bytes     int64

	nextID      uint64 // next ID to assign
	durableNext uint64 // records below this ID are durable, so Peek returns them

	drops        [queuePriorities]uint64 // all drops counted so far
	durableDrops [queuePriorities]uint64 // the part of drops the journal holds

	// journalSize and segment sizes change under mu, in the flusher only, so
	// the flusher reads them without mu.
	journalSize int64
	journalBase int64 // journalSize after the last rewrite

	recovered, skipped, commits uint64
}

// queueSegment is one segment file.
type queueSegment struct {
	num  uint64
	path string
	// f is nil until the flusher creates the file. Only the flusher changes
	// it; others use it under mu and only for durable records.
	f         *os.File
	size      int64 // bytes on disk (durable)
	end       int64 // bytes appended, durable or pending
	firstID   uint64
	lastID    uint64 // the segment's records have IDs in firstID … lastID (0, 0: none yet)
	live      int
	liveBytes int64
}

// queueEntry is one stored record in memory: where it is, not its data.
type queueEntry struct {
	id   uint64
	at   int64 // Unix nanoseconds
	seg  *queueSegment
	off  int64 // offset of the record's frame in seg
	size int64 // frame size: len(data) + queueRecordOverhead
	prio uint8
	dead bool // acked or dropped
}

// queueBatch is what one group commit writes.
type queueBatch struct {
	chunks []queueChunk
	dead   []uint64 // IDs acked or dropped
	drops  [queuePriorities]uint64
	lastID uint64 // highest ID appended, 0 if none
	done   chan struct{}
	err    error // set before done is closed
}

// queueChunk is bytes to write to seg at off.
type queueChunk struct {
	seg *queueSegment
	off int64
	buf []byte
}

func newQueueBatch() *queueBatch { return &queueBatch{done: make(chan struct{})} }

func (b *queueBatch) empty() bool {
	return len(b.chunks) == 0 && len(b.dead) == 0 && b.drops == [queuePriorities]uint64{}
}

// OpenQueue opens the queue in opts.Dir, creating it if needed, and recovers
// what a previous run left there.
func OpenQueue(opts QueueOptions) (*Queue, error) {
	if opts.Dir == "" {
		return nil, errors.New("queue: open: no directory")
	}
	if opts.MaxBytes <= 0 {
		opts.MaxBytes = 256 << 20
	}
	if opts.HardMaxBytes == 0 {
		opts.HardMaxBytes = opts.MaxBytes + opts.MaxBytes/4
	}
	if opts.HardMaxBytes < opts.MaxBytes {
		return nil, fmt.Errorf("queue: open %s: HardMaxBytes %d is below MaxBytes %d", opts.Dir, opts.HardMaxBytes, opts.MaxBytes)
	}
	if opts.SegmentBytes <= 0 {
		opts.SegmentBytes = 8 << 20
	}
	if opts.ProtectFrom == 0 {
		opts.ProtectFrom = 3
	}
	if opts.ProtectFrom > queuePriorities {
		return nil, fmt.Errorf("queue: open %s: ProtectFrom %d is not in 1..%d", opts.Dir, opts.ProtectFrom, queuePriorities)
	}
	if opts.Log == nil {
		opts.Log = zap.NewNop()
	}
	if err := os.MkdirAll(opts.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("queue: open %s: %w", opts.Dir, err)
	}
	lock, err := lockQueueDir(opts.Dir)
	// A child process that another goroutine is starting holds a copy of the
	// lock's descriptor until it execs, so a lock this process just released
	// can look held for a moment: retry briefly before saying it is.
	for deadline := time.Now().Add(time.Second); errors.Is(err, ErrLocked) && time.Now().Before(deadline); {
		time.Sleep(20 * time.Millisecond)
		lock, err = lockQueueDir(opts.Dir)
	}
	if err != nil {
		return nil, err
	}
	q := &Queue{
		opts:    opts,
		log:     opts.Log.With(zap.String("queue", opts.Dir)),
		lock:    lock,
		ready:   make(chan struct{}, 1),
		kick:    make(chan struct{}, 1),
		closing: make(chan struct{}),
		stopped: make(chan struct{}),
		pending: newQueueBatch(),
		nextSeg: 1,
		nextID:  1,
	}
	if err := q.recover(); err != nil {
		q.closeFiles()
		return nil, err
	}
	if q.live > 0 {
		q.ready <- struct{}{}
	}
	go q.run()
	return q, nil
}

// Enqueue stores data with a priority (0 info … 4 critical) and returns its
// ID once it is durable. A full queue returns ErrDropped (an unprotected
// record, dropped and counted) or ErrFull (a protected one, not stored:
// keep it); data larger than MaxBytes returns ErrTooLarge. If ctx ends
// while the record is being synced, Enqueue returns the ID with ctx's
// error: the record may or may not have been stored.
func (q *Queue) Enqueue(ctx context.Context, priority uint8, data []byte) (uint64, error) {
	ids, err := q.EnqueueBatch(ctx, []QueueItem{{Priority: priority, Data: data}})
	if len(ids) == 0 {
		return 0, err
	}
	return ids[0], err
}

// EnqueueBatch stores items (their Priority and Data) in order, as Enqueue
// would one by one, with a single commit. ids[i] is the ID of items[i], or 0
// when items[i] was dropped for room (the error then wraps ErrDropped). When
// a protected item hits the hard limit, EnqueueBatch stops there: the error
// wraps ErrFull, and len(ids) < len(items) because items[len(ids):] were not
// stored; keep those.
func (q *Queue) EnqueueBatch(ctx context.Context, items []QueueItem) ([]uint64, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("queue: enqueue: %w", err)
	}
	for i, it := range items {
		switch {
		case it.Priority >= queuePriorities:
			return nil, fmt.Errorf("queue: enqueue item %d: priority %d is not in 0..%d", i, it.Priority, queuePriorities-1)
		case len(it.Data) > queueMaxData || int64(len(it.Data)+queueRecordOverhead) > q.opts.MaxBytes:
			return nil, fmt.Errorf("queue: enqueue item %d: %d bytes: %w", i, len(it.Data), ErrTooLarge)
		}
	}
	now := time.Now().UnixNano()

	q.mu.Lock()
	if err := q.usable(); err != nil {
		q.mu.Unlock()
		return nil, fmt.Errorf("queue: enqueue: %w", err)
	}
	if q.nextID+uint64(len(items)) >= queueMaxID {
		q.mu.Unlock()
		return nil, fmt.Errorf("queue: enqueue: IDs exhausted (next %d)", q.nextID)
	}
	ids := make([]uint64, 0, len(items))
	dropped := 0
	for _, it := range items {
		size := int64(len(it.Data) + queueRecordOverhead)
		room := q.makeRoom(it.Priority, size)
		if room == queueRefused {
			break
		}
		if room == queueDropSelf {
			q.drops[it.Priority]++
			q.pending.drops[it.Priority]++
			dropped++
			ids = append(ids, 0)
			continue
		}
		ids = append(ids, q.appendRecord(it.Priority, it.Data, now))
	}
	b := q.pending
	q.mu.Unlock()

	if len(ids) > 0 {
		q.wakeFlusher()
		select {
		case <-b.done:
			if b.err != nil {
				return nil, fmt.Errorf("queue: enqueue: %w", b.err)
			}
		case <-ctx.Done():
			return ids, fmt.Errorf("queue: enqueue: not known to be durable: %w", ctx.Err())
		}
	}
	switch {
	case len(ids) < len(items) && dropped > 0:
		return ids, fmt.Errorf("queue: enqueue: %w: %d of %d records not stored; %w: %d", ErrFull, len(items)-len(ids), len(items), ErrDropped, dropped)
	case len(ids) < len(items):
		return ids, fmt.Errorf("queue: enqueue: %w: %d of %d records not stored", ErrFull, len(items)-len(ids), len(items))
	case dropped > 0:
		return ids, fmt.Errorf("queue: enqueue: %w: %d of %d records", ErrDropped, dropped, len(items))
	}
	return ids, nil
}

// queueRoom is makeRoom's verdict.
type queueRoom int

const (
	queueAdmit    queueRoom = iota // store the record (room was made if needed)
	queueDropSelf                  // drop the new, unprotected record
	queueRefused                   // refuse the new, protected record: ErrFull
)

// makeRoom decides whether a record of priority p and size bytes can be
// stored, and drops older records to make room if so. Called with mu held.
func (q *Queue) makeRoom(p uint8, size int64) queueRoom {
	over := q.bytes + size - q.opts.MaxBytes
	if over <= 0 {
		return queueAdmit
	}
	protected := p >= q.opts.ProtectFrom
	top := min(p, q.opts.ProtectFrom-1) // highest priority that may be dropped for p
	var droppable int64
	for prio := range top + 1 {
		droppable += q.prioBytes[prio]
	}
	switch {
	case !protected && droppable < over:
		return queueDropSelf
	case protected && q.bytes-droppable+size > q.opts.HardMaxBytes:
		return queueRefused
	}
	for prio := range top + 1 {
		for over > 0 {
			e := q.byPrio[prio].first()
			if e == nil {
				break
			}
			q.remove(e)
			q.drops[prio]++
			q.pending.drops[prio]++
			over -= e.size
		}
	}
	return queueAdmit
}

// appendRecord assigns the next ID to a record and adds it to the pending
// batch and the index. Called with mu held.
func (q *Queue) appendRecord(prio uint8, data []byte, at int64) uint64 {
	size := int64(len(data) + queueRecordOverhead)
	seg := q.active
	if seg == nil || (seg.end > queueHeaderLen && seg.end+size > q.opts.SegmentBytes) {
		seg = &queueSegment{num: q.nextSeg, path: q.segmentPath(q.nextSeg), end: queueHeaderLen}
		q.nextSeg++
		q.segs = append(q.segs, seg)
		q.active = seg
	}
	id := q.nextID
	q.nextID++
	e := &queueEntry{id: id, at: at, seg: seg, off: seg.end, size: size, prio: prio}

	b := q.pending
	if n := len(b.chunks); n == 0 || b.chunks[n-1].seg != seg {
		b.chunks = append(b.chunks, queueChunk{seg: seg, off: seg.end})
	}
	c := &b.chunks[len(b.chunks)-1]
	c.buf = appendQueueRecord(c.buf, id, at, prio, data)
	b.lastID = id

	seg.end += size
	if seg.firstID == 0 {
		seg.firstID = id
	}
	seg.lastID = id
	q.index(e)
	return id
}

// index adds a live record to the in-memory index. Called with mu held.
func (q *Queue) index(e *queueEntry) {
	q.order.push(e)
	q.byPrio[e.prio].push(e)
	q.prioBytes[e.prio] += e.size
	q.bytes += e.size
	q.live++
	e.seg.live++
	e.seg.liveBytes += e.size
}

// remove marks a record dead (acked, dropped or unreadable) and queues its
// ID for the journal. Called with mu held.
func (q *Queue) remove(e *queueEntry) {
	e.dead = true
	q.order.died()
	q.byPrio[e.prio].died()
	q.prioBytes[e.prio] -= e.size
	q.bytes -= e.size
	q.live--
	e.seg.live--
	e.seg.liveBytes -= e.size
	q.pending.dead = append(q.pending.dead, e.id)
}

// Peek returns up to max of the oldest records, not removing them; they come
// back until acked. It stops before the data would exceed maxBytes, but
// returns at least one record when there is one. max <= 0 or maxBytes <= 0
// means no limit. A record that fails its checksum on reading is logged,
// skipped and removed.
func (q *Queue) Peek(max int, maxBytes int) ([]QueueItem, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed {
		return nil, fmt.Errorf("queue: peek: %w", ErrClosed)
	}
	var (
		items   []QueueItem
		total   int
		corrupt []*queueEntry
	)
	q.order.first() // drop leading dead entries
	for _, e := range q.order.items {
		if e.id >= q.durableNext || (max > 0 && len(items) >= max) {
			break
		}
		if e.dead {
			continue
		}
		n := int(e.size - queueRecordOverhead)
		if maxBytes > 0 && len(items) > 0 && total+n > maxBytes {
			break
		}
		it, err := q.read(e)
		if errors.Is(err, errQueueCorrupt) {
			corrupt = append(corrupt, e)
			continue
		}
		if err != nil {
			return nil, err
		}
		items = append(items, it)
		total += n
	}
	for _, e := range corrupt {
		q.log.Error("queue: record failed its checksum on reading; skipped and removed",
			zap.String("file", e.seg.path), zap.Int64("offset", e.off), zap.Int64("bytes", e.size), zap.Uint64("id", e.id))
		q.skipped += uint64(e.size)
		q.remove(e)
	}
	if len(corrupt) > 0 {
		q.wakeFlusher()
	}
	return items, nil
}

var errQueueCorrupt = errors.New("record damaged")

// read reads a durable record's data. Called with mu held.
func (q *Queue) read(e *queueEntry) (QueueItem, error) {
	buf := make([]byte, e.size)
	if _, err := e.seg.f.ReadAt(buf, e.off); err != nil {
		return QueueItem{}, fmt.Errorf("queue: read %s at %d: %w", e.seg.path, e.off, err)
	}
	body, ok := parseQueueFrame(buf, queueRecordMagic, queueMaxRecordBody)
	r, okRec := decodeQueueRecord(body)
	if !ok || !okRec || r.id != e.id {
		return QueueItem{}, errQueueCorrupt
	}
	return QueueItem{ID: r.id, Priority: r.prio, Data: r.data, EnqueuedAt: time.Unix(0, r.at)}, nil
}

// Ack removes records for good, in any order, and returns once that is
// durable. Unknown IDs (never stored, already acked or dropped) are ignored.
func (q *Queue) Ack(ids ...uint64) error {
	q.mu.Lock()
	if err := q.usable(); err != nil {
		q.mu.Unlock()
		return fmt.Errorf("queue: ack: %w", err)
	}
	n := 0
	for _, id := range ids {
		if e := q.order.find(id); e != nil {
			q.remove(e)
			n++
		}
	}
	b := q.pending
	q.mu.Unlock()
	if n == 0 {
		return nil
	}
	q.wakeFlusher()
	<-b.done
	if b.err != nil {
		return fmt.Errorf("queue: ack: %w", b.err)
	}
	return nil
}

// Ready returns a channel that receives a value when records became
// available to Peek: after a commit that stored records, and at open if the
// queue is not empty. It holds at most one value, so a sender loop calls
// Peek until it returns nothing, then waits on Ready.
func (q *Queue) Ready() <-chan struct{} { return q.ready }

// Stats returns a snapshot of the queue's counters.
func (q *Queue) Stats() QueueStats {
	q.mu.Lock()
	defer q.mu.Unlock()
	disk := q.journalSize
	for _, s := range q.segs {
		disk += s.size
	}
	return QueueStats{
		Depth:     q.live,
		Bytes:     q.bytes,
		DiskBytes: disk,
		Drops:     q.drops,
		Recovered: q.recovered,
		Skipped:   q.skipped,
		Commits:   q.commits,
	}
}

// Close commits what is pending, closes the files and releases the
// directory. It returns the write error that made the queue unusable, if
// any.
func (q *Queue) Close() error {
	q.mu.Lock()
	if q.closed {
		q.mu.Unlock()
		return fmt.Errorf("queue: close %s: %w", q.opts.Dir, ErrClosed)
	}
	q.closed = true
	q.mu.Unlock()
	close(q.closing)
	<-q.stopped
	err := q.closeFiles()
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.failed != nil {
		err = errors.Join(fmt.Errorf("queue: close %s: %w", q.opts.Dir, q.failed), err)
	}
	return err
}

// usable returns why the queue cannot take writes, or nil. Called with mu held.
func (q *Queue) usable() error {
	if q.closed {
		return ErrClosed
	}
	if q.failed != nil {
		return fmt.Errorf("unusable after a write error, reopen the queue to recover: %w", q.failed)
	}
	return nil
}

func (q *Queue) wakeFlusher() {
	select {
	case q.kick <- struct{}{}:
	default:
	}
}

// queueList is records in ID order, from which dead records are removed
// lazily: at the front as it is read, and everywhere once they are half.
type queueList struct {
	items []*queueEntry
	dead  int // dead records still in items
}

func (l *queueList) push(e *queueEntry) { l.items = append(l.items, e) }

// died notes that one of l's records died.
func (l *queueList) died() {
	l.dead++
	if l.dead > 32 && 2*l.dead > len(l.items) {
		live := l.items[:0]
		for _, e := range l.items {
			if !e.dead {
				live = append(live, e)
			}
		}
		clear(l.items[len(live):])
		l.items, l.dead = live, 0
	}
}

// first returns l's oldest live record, or nil.
func (l *queueList) first() *queueEntry {
	for len(l.items) > 0 && l.items[0].dead {
		l.items[0] = nil
		l.items = l.items[1:]
		l.dead--
	}
	if len(l.items) == 0 {
		return nil
	}
	return l.items[0]
}

// search returns the index of the first record whose ID is id or more.
func (l *queueList) search(id uint64) int {
	i, _ := slices.BinarySearchFunc(l.items, id, func(e *queueEntry, id uint64) int {
		return cmp.Compare(e.id, id)
	})
	return i
}

// find returns the live record with this ID, or nil.
func (l *queueList) find(id uint64) *queueEntry {
	if i := l.search(id); i < len(l.items) && l.items[i].id == id && !l.items[i].dead {
		return l.items[i]
	}
	return nil
}
