package transport

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/farmwatch/farmwatch/detectors/detectortest"
)

// queueTestOpen opens a queue (in a new directory when opts.Dir is empty)
// and closes it when the test ends.
func queueTestOpen(t testing.TB, opts QueueOptions) *Queue {
	t.Helper()
	if opts.Dir == "" {
		opts.Dir = detectortest.TempDir(t)
	}
	q, err := OpenQueue(opts)
	if err != nil {
		t.Fatalf("OpenQueue(%s): %v", opts.Dir, err)
	}
	t.Cleanup(func() { q.Close() })
	return q
}

// queueTestData returns n bytes (at least key and a '|') determined by
// key, starting with key.
func queueTestData(key string, n int) []byte {
	b := append([]byte(key), '|')
	for i := 0; len(b) < n; i++ {
		b = append(b, key[i%len(key)]^byte(i))
	}
	return b
}

func queuePeekAll(t testing.TB, q *Queue) []QueueItem {
	t.Helper()
	items, err := q.Peek(0, 0)
	if err != nil {
		t.Fatalf("Peek: %v", err)
	}
	return items
}

func queueIDsOf(items []QueueItem) []uint64 {
	ids := make([]uint64, len(items))
	for i, it := range items {
		ids[i] = it.ID
	}
	return ids
}

func queueObserved() (*zap.Logger, *observer.ObservedLogs) {
	core, logs := observer.New(zap.DebugLevel)
	return zap.New(core), logs
}

// queueSnapshotDir returns the contents of every file in dir but the lock.
func queueSnapshotDir(t *testing.T, dir string) map[string]string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	files := map[string]string{}
	for _, e := range ents {
		if e.Name() == queueLockName {
			continue
		}
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		files[e.Name()] = string(b)
	}
	return files
}

func TestQueueRoundTrip(t *testing.T) {
	t.Parallel()
	dir := detectortest.TempDir(t)
	q := queueTestOpen(t, QueueOptions{Dir: dir, SegmentBytes: 512})
	ctx := t.Context()

	var want []QueueItem
	for i := range 20 {
		p := uint8(i % 5)
		data := queueTestData(fmt.Sprint("r", i), i*13)
		id, err := q.Enqueue(ctx, p, data)
		if err != nil {
			t.Fatalf("Enqueue %d: %v", i, err)
		}
		if id != uint64(i+1) {
			t.Fatalf("Enqueue %d: ID %d, want %d", i, id, i+1)
		}
		want = append(want, QueueItem{ID: id, Priority: p, Data: data})
	}
	check := func(q *Queue, want []QueueItem) {
		t.Helper()
		got := queuePeekAll(t, q)
		if len(got) != len(want) {
			t.Fatalf("Peek returned IDs %v, want %v", queueIDsOf(got), queueIDsOf(want))
		}
		for i := range got {
			g, w := got[i], want[i]
			if g.ID != w.ID || g.Priority != w.Priority || !bytes.Equal(g.Data, w.Data) {
				t.Fatalf("item %d: got ID %d prio %d %q, want ID %d prio %d %q", i, g.ID, g.Priority, g.Data, w.ID, w.Priority, w.Data)
			}
			if time.Since(g.EnqueuedAt) > time.Minute || g.EnqueuedAt.After(time.Now()) {
				t.Fatalf("item %d: EnqueuedAt %v", i, g.EnqueuedAt)
			}
		}
		if st := q.Stats(); st.Depth != len(want) {
			t.Fatalf("Depth %d, want %d", st.Depth, len(want))
		}
	}
	check(q, want)
	check(q, want) // Peek does not remove

	// Ack out of order, and IDs that are unknown or acked twice.
	if err := q.Ack(17, 3, 9, 1, 9, 999); err != nil {
		t.Fatal(err)
	}
	if err := q.Ack(3); err != nil {
		t.Fatal(err)
	}
	want = slices.DeleteFunc(want, func(it QueueItem) bool { return it.ID == 1 || it.ID == 3 || it.ID == 9 || it.ID == 17 })
	check(q, want)

	if err := q.Close(); err != nil {
		t.Fatal(err)
	}
	q = queueTestOpen(t, QueueOptions{Dir: dir, SegmentBytes: 512})
	check(q, want)
	id, err := q.Enqueue(ctx, 2, []byte("after reopen"))
	if err != nil || id != 21 {
		t.Fatalf("Enqueue after reopen: ID %d, %v; want 21", id, err)
	}
}

func TestQueueIDsContinueAfterEverySegmentIsGone(t *testing.T) {
	t.Parallel()
	dir := detectortest.TempDir(t)
	opts := QueueOptions{Dir: dir, SegmentBytes: 64, NoSync: true} // one record per segment
	q := queueTestOpen(t, opts)
	for i := range 3 {
		if _, err := q.Enqueue(t.Context(), 1, queueTestData(fmt.Sprint(i), 100)); err != nil {
			t.Fatal(err)
		}
	}
	if err := q.Ack(1, 2, 3); err != nil {
		t.Fatal(err)
	}
	if err := q.Close(); err != nil {
		t.Fatal(err)
	}
	q = queueTestOpen(t, opts)
	if segs, _ := filepath.Glob(filepath.Join(dir, "seg-*")); len(segs) != 0 {
		t.Fatalf("segments left after all records were acked: %v", segs)
	}
	if id, err := q.Enqueue(t.Context(), 1, []byte("x")); err != nil || id != 4 {
		t.Fatalf("Enqueue: ID %d, %v; want 4", id, err)
	}
}

func TestQueuePeekLimits(t *testing.T) {
	t.Parallel()
	q := queueTestOpen(t, QueueOptions{NoSync: true})
	for i := range 5 {
		if _, err := q.Enqueue(t.Context(), 0, queueTestData(fmt.Sprint(i), 10)); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		max, maxBytes int
		want          []uint64
	}{
		{0, 0, []uint64{1, 2, 3, 4, 5}},
		{3, 0, []uint64{1, 2, 3}},
		{0, 25, []uint64{1, 2}},
		{0, 30, []uint64{1, 2, 3}},
		{0, 5, []uint64{1}}, // at least one
		{2, 100, []uint64{1, 2}},
	}
	for _, tc := range tests {
		got, err := q.Peek(tc.max, tc.maxBytes)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(queueIDsOf(got), tc.want) {
			t.Errorf("Peek(%d, %d) = %v, want %v", tc.max, tc.maxBytes, queueIDsOf(got), tc.want)
		}
	}
}

func TestQueueReady(t *testing.T) {
	t.Parallel()
	dir := detectortest.TempDir(t)
	q := queueTestOpen(t, QueueOptions{Dir: dir, NoSync: true})
	select {
	case <-q.Ready():
		t.Fatal("Ready signalled on an empty queue")
	default:
	}
	if _, err := q.Enqueue(t.Context(), 0, []byte("x")); err != nil {
		t.Fatal(err)
	}
	select {
	case <-q.Ready():
	case <-time.After(10 * time.Second):
		t.Fatal("Ready not signalled after Enqueue")
	}
	q.Close()
	q = queueTestOpen(t, QueueOptions{Dir: dir, NoSync: true})
	select {
	case <-q.Ready():
	default:
		t.Fatal("Ready not signalled at open of a queue holding records")
	}
}

func TestQueueClosedAndCanceled(t *testing.T) {
	t.Parallel()
	q := queueTestOpen(t, QueueOptions{NoSync: true})
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := q.Enqueue(ctx, 0, []byte("x")); !errors.Is(err, context.Canceled) {
		t.Fatalf("Enqueue with a canceled context: %v", err)
	}
	if d := q.Stats().Depth; d != 0 {
		t.Fatalf("a canceled Enqueue stored a record (depth %d)", d)
	}
	if err := q.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := q.Enqueue(t.Context(), 0, []byte("x")); !errors.Is(err, ErrClosed) {
		t.Errorf("Enqueue after Close: %v", err)
	}
	if err := q.Ack(1); !errors.Is(err, ErrClosed) {
		t.Errorf("Ack after Close: %v", err)
	}
	if _, err := q.Peek(1, 0); !errors.Is(err, ErrClosed) {
		t.Errorf("Peek after Close: %v", err)
	}
	if err := q.Close(); !errors.Is(err, ErrClosed) {
		t.Errorf("second Close: %v", err)
	}
}

func TestQueueRejectsBadInput(t *testing.T) {
	t.Parallel()
	dir := detectortest.TempDir(t)
	for _, opts := range []QueueOptions{
		{},
		{Dir: dir, ProtectFrom: 6},
		{Dir: dir, MaxBytes: 1000, HardMaxBytes: 999},
	} {
		if q, err := OpenQueue(opts); err == nil {
			q.Close()
			t.Errorf("OpenQueue(%+v) accepted bad options", opts)
		}
	}
	q := queueTestOpen(t, QueueOptions{Dir: dir, MaxBytes: 1000, NoSync: true})
	if _, err := q.Enqueue(t.Context(), 5, nil); err == nil {
		t.Error("Enqueue accepted priority 5")
	}
	if _, err := q.Enqueue(t.Context(), 4, make([]byte, 1000)); !errors.Is(err, ErrTooLarge) {
		t.Errorf("Enqueue of a record larger than MaxBytes: %v", err)
	}
	if st := q.Stats(); st.Depth != 0 || st.Drops != [5]uint64{} {
		t.Errorf("rejected input changed the queue: %+v", st)
	}
}

func TestQueueSegmentNames(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		num  uint64
		ok   bool
	}{
		{"seg-0000000000000001.fwq", 1, true},
		{"seg-00000000000000ff.fwq", 255, true},
		{"0000000000000001.fwq", 0, false},
		{"seg-0000000000000001", 0, false},
		{"seg-000000000000001.fwq", 0, false},
		{"seg-000000000000000g.fwq", 0, false},
		{"seg-0000000000000001.fwq.tmp", 0, false},
		{queueJournalName, 0, false},
	}
	for _, tc := range tests {
		if num, ok := parseQueueSegmentName(tc.name); num != tc.num || ok != tc.ok {
			t.Errorf("parseQueueSegmentName(%q) = %d, %v; want %d, %v", tc.name, num, ok, tc.num, tc.ok)
		}
	}
}

func TestQueueLocked(t *testing.T) {
	t.Parallel()
	dir := detectortest.TempDir(t)
	q := queueTestOpen(t, QueueOptions{Dir: dir, NoSync: true})
	_, err := OpenQueue(QueueOptions{Dir: dir, NoSync: true})
	if !errors.Is(err, ErrLocked) {
		t.Fatalf("second OpenQueue of one directory: %v, want ErrLocked", err)
	}
	if !strings.Contains(err.Error(), fmt.Sprintf("process %d", os.Getpid())) || !strings.Contains(err.Error(), dir) {
		t.Errorf("error does not name the directory and the holder: %v", err)
	}
	t.Log(err)
	if err := q.Close(); err != nil {
		t.Fatal(err)
	}
	queueTestOpen(t, QueueOptions{Dir: dir, NoSync: true}).Close()
}

func TestQueueLockedByAnotherProcess(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("the child process test runs on unix; TestQueueLocked covers LockFileEx")
	}
	t.Parallel()
	dir := detectortest.TempDir(t)
	queueTestOpen(t, QueueOptions{Dir: dir, NoSync: true})
	out, err := queueChild(dir, "lock", "0").Output()
	if err != nil {
		t.Fatalf("child: %v", err)
	}
	if !strings.Contains(string(out), "LOCKED") || !strings.Contains(string(out), fmt.Sprintf("process %d", os.Getpid())) {
		t.Fatalf("child opened a locked queue or did not say who holds it: %s", out)
	}
}

func TestQueueBadVersion(t *testing.T) {
	t.Parallel()
	for _, file := range []string{"seg-0000000000000001.fwq", queueJournalName} {
		t.Run(file, func(t *testing.T) {
			t.Parallel()
			dir := detectortest.TempDir(t)
			q := queueTestOpen(t, QueueOptions{Dir: dir, NoSync: true})
			for i := range 3 {
				if _, err := q.Enqueue(t.Context(), 3, queueTestData(fmt.Sprint(i), 50)); err != nil {
					t.Fatal(err)
				}
			}
			if err := q.Close(); err != nil {
				t.Fatal(err)
			}
			p := filepath.Join(dir, file)
			b, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			binary.LittleEndian.PutUint16(b[4:], 99)
			if err := os.WriteFile(p, b, 0o600); err != nil {
				t.Fatal(err)
			}
			// A leftover temporary file must survive the refusal too.
			if err := os.WriteFile(filepath.Join(dir, "seg-0000000000000001.fwq.tmp"), []byte("x"), 0o600); err != nil {
				t.Fatal(err)
			}
			before := queueSnapshotDir(t, dir)
			_, err = OpenQueue(QueueOptions{Dir: dir, NoSync: true})
			if !errors.Is(err, ErrVersion) || !strings.Contains(err.Error(), p) || !strings.Contains(err.Error(), "version 99") {
				t.Fatalf("OpenQueue with version 99 in %s: %v", file, err)
			}
			t.Log(err)
			if after := queueSnapshotDir(t, dir); !maps.Equal(before, after) {
				t.Fatal("a refused open changed the files")
			}

			binary.LittleEndian.PutUint16(b[4:], queueFormatVersion)
			if err := os.WriteFile(p, b, 0o600); err != nil {
				t.Fatal(err)
			}
			q = queueTestOpen(t, QueueOptions{Dir: dir, NoSync: true})
			if got := queueIDsOf(queuePeekAll(t, q)); !slices.Equal(got, []uint64{1, 2, 3}) {
				t.Fatalf("after restoring the version: IDs %v", got)
			}
		})
	}
}

func TestQueueCapacity(t *testing.T) {
	t.Parallel()
	const data = 71 // a 100-byte record
	type step struct {
		prio uint8
		data int
		want error
	}
	s := func(prio uint8, want error) step { return step{prio, data, want} }
	fill := func(prios ...uint8) []step {
		var steps []step
		for _, p := range prios {
			steps = append(steps, s(p, nil))
		}
		return steps
	}
	ids := func(lo, hi uint64) []uint64 {
		var r []uint64
		for i := lo; i <= hi; i++ {
			r = append(r, i)
		}
		return r
	}
	tests := []struct {
		name  string
		opts  QueueOptions
		steps []step
		live  []uint64
		drops [5]uint64
	}{{
		name: "lowest priority first, oldest first, down to the record's own priority",
		steps: append(fill(0, 1, 2, 0, 1, 2, 3, 4, 0, 1),
			s(2, nil),        // 11 drops 1
			s(2, nil),        // 12 drops 4
			s(2, nil),        // 13 drops 9
			s(1, nil),        // 14 drops 2
			s(0, ErrDropped), // nothing lower or older
		),
		live:  []uint64{3, 5, 6, 7, 8, 10, 11, 12, 13, 14},
		drops: [5]uint64{4, 1, 0, 0, 0},
	}, {
		name: "protected records drop every unprotected one, then use the headroom up to the hard limit",
		steps: append(fill(2, 0, 3, 1, 2, 0, 4, 3, 1, 2),
			s(4, nil), s(3, nil), // 11, 12 drop 2, 6
			s(3, nil), s(4, nil), // 13, 14 drop 4, 9
			s(3, nil), s(3, nil), s(3, nil), // 15-17 drop 1, 5, 10
			s(4, nil), s(3, nil), // 18, 19: 1200 bytes, within 1250
			s(4, ErrFull),
			s(2, ErrDropped),
			s(0, ErrDropped),
		),
		live:  append([]uint64{3, 7, 8}, ids(11, 19)...),
		drops: [5]uint64{3, 2, 4, 0, 0},
	}, {
		name:  "same priority: the oldest goes",
		steps: append(fill(1, 1, 1, 1, 1, 1, 1, 1, 1, 1), s(1, nil)),
		live:  ids(2, 11),
		drops: [5]uint64{0, 1, 0, 0, 0},
	}, {
		name:  "an unprotected record that lower ones cannot make room for is dropped itself",
		steps: append(fill(0, 0, 0, 0, 0, 3, 3, 3, 3, 3), step{2, 671, ErrDropped}),
		live:  ids(1, 10),
		drops: [5]uint64{0, 0, 1, 0, 0},
	}, {
		name:  "a protected record that cannot fit drops nothing",
		opts:  QueueOptions{HardMaxBytes: 1000},
		steps: append(fill(0, 3, 3, 3, 3, 3, 3, 3, 3, 3), step{3, 171, ErrFull}, s(3, nil)),
		live:  ids(2, 11),
		drops: [5]uint64{1, 0, 0, 0, 0},
	}, {
		name:  "ProtectFrom 5 protects nothing",
		opts:  QueueOptions{ProtectFrom: 5},
		steps: append(fill(4, 4, 4, 4, 4, 4, 4, 4, 4, 4), s(4, nil), s(3, ErrDropped)),
		live:  ids(2, 11),
		drops: [5]uint64{0, 0, 0, 1, 1},
	}, {
		name:  "ProtectFrom 1 protects all but info",
		opts:  QueueOptions{ProtectFrom: 1},
		steps: append(fill(0, 0, 1, 1, 1, 1, 1, 1, 1, 1), s(1, nil), s(2, nil), s(1, nil), s(1, nil), s(1, ErrFull), s(0, ErrDropped)),
		live:  ids(3, 14),
		drops: [5]uint64{3, 0, 0, 0, 0},
	}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			opts := tc.opts
			opts.Dir, opts.MaxBytes, opts.NoSync = detectortest.TempDir(t), 1000, true
			q := queueTestOpen(t, opts)
			for i, st := range tc.steps {
				before := q.Stats()
				id, err := q.Enqueue(t.Context(), st.prio, queueTestData(fmt.Sprint("s", i), st.data))
				if !errors.Is(err, st.want) {
					t.Fatalf("step %d (priority %d): %v, want %v", i, st.prio, err, st.want)
				}
				after := q.Stats()
				if st.want != nil && id != 0 {
					t.Fatalf("step %d: ID %d with %v", i, id, err)
				}
				if errors.Is(st.want, ErrFull) && (after.Depth != before.Depth || after.Bytes != before.Bytes || after.Drops != before.Drops) {
					t.Fatalf("step %d: ErrFull changed the queue: %+v → %+v", i, before, after)
				}
				if after.Bytes > q.opts.HardMaxBytes || (id != 0 && st.prio < q.opts.ProtectFrom && after.Bytes > 1000) {
					t.Fatalf("step %d: %d bytes stored", i, after.Bytes)
				}
			}
			check := func(q *Queue) {
				t.Helper()
				if got := queueIDsOf(queuePeekAll(t, q)); !slices.Equal(got, tc.live) {
					t.Errorf("live IDs %v, want %v", got, tc.live)
				}
				if got := q.Stats().Drops; got != tc.drops {
					t.Errorf("drops %v, want %v", got, tc.drops)
				}
			}
			check(q)
			if err := q.Close(); err != nil {
				t.Fatal(err)
			}
			check(queueTestOpen(t, opts))
		})
	}
}

// queueModel is the capacity policy, written out plainly.
type queueModel struct {
	max, hard int64
	protect   uint8
	live      []queueModelRecord
	drops     [5]uint64
	nextID    uint64
}

type queueModelRecord struct {
	id   uint64
	prio uint8
	size int64
}

func (m *queueModel) enqueue(p uint8, size int64) (uint64, error) {
	var total int64
	for _, r := range m.live {
		total += r.size
	}
	if over := total + size - m.max; over > 0 {
		top := min(p, m.protect-1)
		var droppable int64
		for _, r := range m.live {
			if r.prio <= top {
				droppable += r.size
			}
		}
		if p < m.protect && droppable < over {
			m.drops[p]++
			return 0, ErrDropped
		}
		if p >= m.protect && total-droppable+size > m.hard {
			return 0, ErrFull
		}
		for prio := uint8(0); prio <= top && over > 0; prio++ {
			m.live = slices.DeleteFunc(m.live, func(r queueModelRecord) bool {
				if r.prio != prio || over <= 0 {
					return false
				}
				over -= r.size
				m.drops[prio]++
				return true
			})
		}
	}
	m.nextID++
	m.live = append(m.live, queueModelRecord{m.nextID, p, size})
	return m.nextID, nil
}

func TestQueueCapacityModel(t *testing.T) {
	t.Parallel()
	seed := rand.Uint64()
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 1))
	opts := QueueOptions{Dir: detectortest.TempDir(t), MaxBytes: 3000, SegmentBytes: 1024, NoSync: true}
	q := queueTestOpen(t, opts)
	m := &queueModel{max: 3000, hard: 3750, protect: 3}
	for op := range 3000 {
		switch r := rng.IntN(100); {
		case r < 70:
			p, data := uint8(rng.IntN(5)), queueTestData(fmt.Sprint(op), rng.IntN(300))
			wantID, wantErr := m.enqueue(p, int64(len(data)+queueRecordOverhead))
			id, err := q.Enqueue(t.Context(), p, data)
			if id != wantID || !errors.Is(err, wantErr) {
				t.Fatalf("op %d: Enqueue(%d, %d bytes) = %d, %v; model says %d, %v", op, p, len(data), id, err, wantID, wantErr)
			}
		case r < 95 && len(m.live) > 0:
			i := rng.IntN(len(m.live))
			if err := q.Ack(m.live[i].id, m.nextID+5); err != nil {
				t.Fatal(err)
			}
			m.live = slices.Delete(m.live, i, i+1)
		case r >= 95:
			if err := q.Close(); err != nil {
				t.Fatal(err)
			}
			q = queueTestOpen(t, opts)
		}
		if op%50 == 0 || op == 2999 {
			var want []uint64
			var bytes int64
			for _, r := range m.live {
				want = append(want, r.id)
				bytes += r.size
			}
			if got := queueIDsOf(queuePeekAll(t, q)); !slices.Equal(got, want) {
				t.Fatalf("op %d: live %v, model %v", op, got, want)
			}
			if st := q.Stats(); st.Drops != m.drops || st.Bytes != bytes || st.Depth != len(want) {
				t.Fatalf("op %d: stats %+v; model drops %v, %d bytes", op, st, m.drops, bytes)
			}
		}
	}
}

func TestQueueEnqueueBatch(t *testing.T) {
	t.Parallel()
	items := func(prios ...uint8) []QueueItem {
		var it []QueueItem
		for i, p := range prios {
			it = append(it, QueueItem{Priority: p, Data: queueTestData(fmt.Sprint("b", i), 71)})
		}
		return it
	}
	t.Run("one commit", func(t *testing.T) {
		t.Parallel()
		q := queueTestOpen(t, QueueOptions{})
		before := q.Stats().Commits
		ids, err := q.EnqueueBatch(t.Context(), items(0, 1, 2, 3, 4, 0, 1, 2))
		if err != nil || !slices.Equal(ids, []uint64{1, 2, 3, 4, 5, 6, 7, 8}) {
			t.Fatalf("EnqueueBatch: %v, %v", ids, err)
		}
		if n := q.Stats().Commits - before; n != 1 {
			t.Errorf("%d commits for one batch", n)
		}
	})
	t.Run("stops at the hard limit", func(t *testing.T) {
		t.Parallel()
		q := queueTestOpen(t, QueueOptions{MaxBytes: 1000, HardMaxBytes: 1000, NoSync: true})
		if _, err := q.EnqueueBatch(t.Context(), items(3, 3, 3, 3, 3, 3, 3, 3, 3)); err != nil {
			t.Fatal(err)
		}
		ids, err := q.EnqueueBatch(t.Context(), items(3, 3, 0))
		if !errors.Is(err, ErrFull) || !slices.Equal(ids, []uint64{10}) {
			t.Fatalf("EnqueueBatch over the hard limit: %v, %v", ids, err)
		}
		if st := q.Stats(); st.Depth != 10 || st.Drops != [5]uint64{} {
			t.Fatalf("stats %+v", st)
		}
	})
	t.Run("drops unprotected items", func(t *testing.T) {
		t.Parallel()
		q := queueTestOpen(t, QueueOptions{MaxBytes: 1000, NoSync: true})
		if _, err := q.EnqueueBatch(t.Context(), items(3, 3, 3, 3, 3, 3, 3, 3, 3, 3)); err != nil {
			t.Fatal(err)
		}
		ids, err := q.EnqueueBatch(t.Context(), items(0, 4, 1))
		if !errors.Is(err, ErrDropped) || errors.Is(err, ErrFull) || !slices.Equal(ids, []uint64{0, 11, 0}) {
			t.Fatalf("EnqueueBatch into a full queue: %v, %v", ids, err)
		}
		if d := q.Stats().Drops; d != [5]uint64{1, 1, 0, 0, 0} {
			t.Fatalf("drops %v", d)
		}
	})
}

func TestQueueSegmentsDeletedAndCompacted(t *testing.T) {
	t.Parallel()
	dir := detectortest.TempDir(t)
	opts := QueueOptions{Dir: dir, SegmentBytes: 4096, NoSync: true}
	q := queueTestOpen(t, opts)
	var want []QueueItem
	for i := range 170 {
		data := queueTestData(fmt.Sprint("c", i), 200)
		id, err := q.Enqueue(t.Context(), uint8(i%5), data)
		if err != nil {
			t.Fatal(err)
		}
		want = append(want, QueueItem{ID: id, Data: data})
	}
	full := q.Stats().DiskBytes
	segs, _ := filepath.Glob(filepath.Join(dir, "seg-*.fwq"))
	// Ack the first 34 records (two segments) and 3 of every 4 others,
	// one by one: each commit is followed by a round of maintenance.
	for _, it := range want {
		if it.ID <= 34 || it.ID%4 != 0 {
			if err := q.Ack(it.ID); err != nil {
				t.Fatal(err)
			}
		}
	}
	want = slices.DeleteFunc(want, func(it QueueItem) bool { return it.ID <= 34 || it.ID%4 != 0 })
	if _, err := q.Enqueue(t.Context(), 0, []byte("last")); err != nil { // one more commit and maintenance round
		t.Fatal(err)
	}
	st := q.Stats()
	left, _ := filepath.Glob(filepath.Join(dir, "seg-*.fwq"))
	t.Logf("before: %d segments, %d bytes on disk; after: %d segments, %d bytes on disk for %d live bytes", len(segs), full, len(left), st.DiskBytes, st.Bytes)
	if len(left) > len(segs)-2 {
		t.Errorf("%d segments left of %d; the two fully acked ones should be gone", len(left), len(segs))
	}
	if st.DiskBytes > 2*st.Bytes+2*opts.SegmentBytes {
		t.Errorf("%d bytes on disk for %d live bytes", st.DiskBytes, st.Bytes)
	}
	check := func(q *Queue) {
		t.Helper()
		got := queuePeekAll(t, q)
		got = got[:len(got)-1] // "last"
		if len(got) != len(want) {
			t.Fatalf("IDs %v, want %v", queueIDsOf(got), queueIDsOf(want))
		}
		for i := range got {
			if got[i].ID != want[i].ID || !bytes.Equal(got[i].Data, want[i].Data) {
				t.Fatalf("item %d: ID %d %q, want ID %d %q", i, got[i].ID, got[i].Data, want[i].ID, want[i].Data)
			}
		}
	}
	check(q)
	if err := q.Close(); err != nil {
		t.Fatal(err)
	}
	check(queueTestOpen(t, opts))
}

func TestQueueConcurrent(t *testing.T) {
	t.Parallel()
	q := queueTestOpen(t, QueueOptions{SegmentBytes: 16 << 10})
	const producers, each = 16, 60
	ctx := t.Context()
	var wg sync.WaitGroup
	for g := range producers {
		wg.Go(func() {
			for i := range each {
				key := fmt.Sprintf("g%d-%d", g, i)
				if _, err := q.Enqueue(ctx, uint8(i%5), queueTestData(key, 300)); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	stop := make(chan struct{})
	wg.Go(func() { // a status reader, as the agent's local API would be
		for {
			select {
			case <-stop:
				return
			default:
				q.Stats()
			}
		}
	})
	seen := map[string]bool{}
	deadline := time.After(60 * time.Second)
	for len(seen) < producers*each {
		items, err := q.Peek(32, 0)
		if err != nil {
			t.Fatal(err)
		}
		if len(items) == 0 {
			select {
			case <-q.Ready():
			case <-time.After(100 * time.Millisecond):
			case <-deadline:
				t.Fatalf("received %d of %d records", len(seen), producers*each)
			}
			continue
		}
		for _, it := range items {
			key, _, _ := strings.Cut(string(it.Data), "|")
			if !bytes.Equal(it.Data, queueTestData(key, 300)) {
				t.Fatalf("record %d: damaged data %q", it.ID, it.Data)
			}
			seen[key] = true
		}
		if err := q.Ack(queueIDsOf(items)...); err != nil {
			t.Fatal(err)
		}
	}
	close(stop)
	wg.Wait()
	if st := q.Stats(); st.Depth != 0 || st.Bytes != 0 {
		t.Errorf("after acking everything: %+v", st)
	}
}

func TestQueueGroupCommit(t *testing.T) {
	t.Parallel()
	q := queueTestOpen(t, QueueOptions{})
	const callers = 64
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range callers {
		wg.Go(func() {
			<-start
			if _, err := q.Enqueue(t.Context(), 3, queueTestData(fmt.Sprint(i), 2048)); err != nil {
				t.Error(err)
			}
		})
	}
	close(start)
	wg.Wait()
	st := q.Stats()
	t.Logf("%d concurrent Enqueue calls, %d commits", callers, st.Commits)
	if st.Depth != callers || st.Commits >= callers/2 {
		t.Errorf("%d records in %d commits: no group commit", st.Depth, st.Commits)
	}
}

// queueSegmentFixture writes a queue of a dozen records in one segment,
// acks two, and returns the segment's and journal's bytes, the live records
// and the end offset of each record in the segment.
func queueSegmentFixture(t *testing.T) (seg, journal []byte, live []QueueItem, ends []int) {
	t.Helper()
	dir := detectortest.TempDir(t)
	q := queueTestOpen(t, QueueOptions{Dir: dir, NoSync: true})
	end := queueHeaderLen
	for i := range 12 {
		data := queueTestData(fmt.Sprint("t", i), 7*i)
		id, err := q.Enqueue(t.Context(), uint8(i%5), data)
		if err != nil {
			t.Fatal(err)
		}
		end += len(data) + queueRecordOverhead
		ends = append(ends, end)
		live = append(live, QueueItem{ID: id, Data: data})
	}
	if err := q.Ack(4, 9); err != nil {
		t.Fatal(err)
	}
	if err := q.Close(); err != nil {
		t.Fatal(err)
	}
	live = slices.DeleteFunc(live, func(it QueueItem) bool { return it.ID == 4 || it.ID == 9 })
	seg, err := os.ReadFile(filepath.Join(dir, "seg-0000000000000001.fwq"))
	if err != nil {
		t.Fatal(err)
	}
	journal, err = os.ReadFile(filepath.Join(dir, queueJournalName))
	if err != nil {
		t.Fatal(err)
	}
	return seg, journal, live, ends
}

// queueOpenFiles opens a queue in a new directory holding these segment and
// journal bytes, and returns its live items.
func queueOpenFiles(t *testing.T, seg, journal []byte, log *zap.Logger) (*Queue, []QueueItem) {
	t.Helper()
	dir := detectortest.TempDir(t)
	if err := os.WriteFile(filepath.Join(dir, "seg-0000000000000001.fwq"), seg, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, queueJournalName), journal, 0o600); err != nil {
		t.Fatal(err)
	}
	q, err := OpenQueue(QueueOptions{Dir: dir, NoSync: true, Log: log})
	if err != nil {
		t.Fatalf("OpenQueue: %v", err)
	}
	t.Cleanup(func() { q.Close() })
	return q, queuePeekAll(t, q)
}

func queueSameItems(t *testing.T, what string, got, want []QueueItem) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: IDs %v, want %v", what, queueIDsOf(got), queueIDsOf(want))
	}
	for i := range got {
		if got[i].ID != want[i].ID || !bytes.Equal(got[i].Data, want[i].Data) {
			t.Fatalf("%s: item %d is ID %d %q, want ID %d %q", what, i, got[i].ID, got[i].Data, want[i].ID, want[i].Data)
		}
	}
}

func TestQueueTruncatedSegment(t *testing.T) {
	t.Parallel()
	seg, journal, live, ends := queueSegmentFixture(t)
	for cut := 0; cut <= len(seg); cut++ {
		log, logs := queueObserved()
		q, got := queueOpenFiles(t, seg[:cut], journal, log)
		whole := 0 // records wholly before the cut
		for whole < len(ends) && ends[whole] <= cut {
			whole++
		}
		var want []QueueItem
		for _, it := range live {
			if it.ID <= uint64(whole) {
				want = append(want, it)
			}
		}
		queueSameItems(t, fmt.Sprintf("cut at %d", cut), got, want)

		boundary := queueHeaderLen
		if whole > 0 {
			boundary = ends[whole-1]
		}
		skipped := logs.FilterMessage("queue: skipped damaged bytes").All()
		switch {
		case cut > 0 && cut < queueHeaderLen:
			boundary = 0
			fallthrough
		case cut > boundary:
			if len(skipped) != 1 {
				t.Fatalf("cut at %d: %d damage logs, want 1", cut, len(skipped))
			}
			f := skipped[0].ContextMap()
			if f["offset"] != int64(boundary) || f["bytes"] != int64(cut-boundary) || !strings.HasSuffix(f["file"].(string), ".fwq") {
				t.Fatalf("cut at %d: damage logged as %v, want offset %d, %d bytes", cut, f, boundary, cut-boundary)
			}
			if st := q.Stats(); st.Skipped != uint64(cut-boundary) {
				t.Fatalf("cut at %d: Skipped %d, want %d", cut, st.Skipped, cut-boundary)
			}
		default:
			if len(skipped) != 0 {
				t.Fatalf("cut at %d, a record boundary: damage logged: %v", cut, skipped[0].ContextMap())
			}
		}
		q.Close()
	}
}

func TestQueueTruncatedJournal(t *testing.T) {
	t.Parallel()
	seg, journal, live, _ := queueSegmentFixture(t)
	for cut := 0; cut <= len(journal); cut++ {
		_, got := queueOpenFiles(t, seg, journal[:cut], nil)
		// Acks in the lost part come back (at least once); nothing else does.
		for _, it := range live {
			if !slices.ContainsFunc(got, func(g QueueItem) bool { return g.ID == it.ID && bytes.Equal(g.Data, it.Data) }) {
				t.Fatalf("journal cut at %d: record %d lost", cut, it.ID)
			}
		}
		if len(got) > len(live)+2 {
			t.Fatalf("journal cut at %d: %d records", cut, len(got))
		}
	}
}

func TestQueueCorruptSegment(t *testing.T) {
	t.Parallel()
	seg, journal, live, ends := queueSegmentFixture(t)
	seed := rand.Uint64()
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 2))
	for iter := range 300 {
		b := bytes.Clone(seg)
		var hits []int
		for range 1 + rng.IntN(4) {
			off := queueHeaderLen + rng.IntN(len(b)-queueHeaderLen)
			b[off] ^= byte(1 + rng.IntN(255))
			hits = append(hits, off)
		}
		var want []QueueItem // the records no flipped byte fell in
		for _, it := range live {
			start, end := queueHeaderLen, ends[it.ID-1]
			if it.ID > 1 {
				start = ends[it.ID-2]
			}
			if !slices.ContainsFunc(hits, func(h int) bool { return h >= start && h < end }) {
				want = append(want, it)
			}
		}
		log, logs := queueObserved()
		q, got := queueOpenFiles(t, b, journal, log)
		queueSameItems(t, fmt.Sprintf("iteration %d (bytes %v flipped)", iter, hits), got, want)
		st := q.Stats()
		if logs.FilterMessage("queue: skipped damaged bytes").Len() == 0 || st.Skipped == 0 || st.Recovered != uint64(len(want)) {
			t.Fatalf("iteration %d: damage not logged or counted: %+v", iter, st)
		}
		// The damaged segment was repaired: a reopen finds no damage.
		dir := q.opts.Dir
		if err := q.Close(); err != nil {
			t.Fatal(err)
		}
		q = queueTestOpen(t, QueueOptions{Dir: dir, NoSync: true})
		queueSameItems(t, fmt.Sprintf("iteration %d, reopened", iter), queuePeekAll(t, q), want)
		if st := q.Stats(); st.Skipped != 0 {
			t.Fatalf("iteration %d: damage again after the repair: %+v", iter, st)
		}
		q.Close()
	}
}

func TestQueueDamagedHeader(t *testing.T) {
	t.Parallel()
	seg, journal, live, _ := queueSegmentFixture(t)
	for _, off := range []int{0, 3, 6, 7} { // magic and reserved bytes; the version is TestQueueBadVersion's
		b := bytes.Clone(seg)
		b[off] ^= 0x55
		q, got := queueOpenFiles(t, b, journal, nil)
		queueSameItems(t, fmt.Sprintf("header byte %d damaged", off), got, live)
		if st := q.Stats(); st.Skipped != queueHeaderLen {
			t.Errorf("header byte %d damaged: Skipped %d", off, st.Skipped)
		}
		// The journal's header too.
		j := bytes.Clone(journal)
		j[off] ^= 0x55
		_, got = queueOpenFiles(t, seg, j, nil)
		queueSameItems(t, fmt.Sprintf("journal header byte %d damaged", off), got, live)
	}
}

func TestQueueDamagedOnRead(t *testing.T) {
	t.Parallel()
	dir := detectortest.TempDir(t)
	log, logs := queueObserved()
	q := queueTestOpen(t, QueueOptions{Dir: dir, NoSync: true, Log: log})
	for i := range 3 {
		if _, err := q.Enqueue(t.Context(), 1, queueTestData(fmt.Sprint(i), 40)); err != nil {
			t.Fatal(err)
		}
	}
	// Damage the second record's data under the open queue.
	f, err := os.OpenFile(filepath.Join(dir, "seg-0000000000000001.fwq"), os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt([]byte{0xFF}, int64(queueHeaderLen+40+queueRecordOverhead+35)); err != nil {
		t.Fatal(err)
	}
	f.Close()
	if got := queueIDsOf(queuePeekAll(t, q)); !slices.Equal(got, []uint64{1, 3}) {
		t.Fatalf("Peek over a damaged record: IDs %v", got)
	}
	if st := q.Stats(); st.Depth != 2 || st.Skipped != 40+queueRecordOverhead {
		t.Fatalf("stats %+v", st)
	}
	if logs.FilterMessageSnippet("checksum").Len() != 1 {
		t.Fatal("damaged record not logged")
	}
}

// The kill -9 test runs this test binary as a child that enqueues and acks
// in a loop and says what returned; the parent kills it and checks.
const (
	queueChildDirEnv  = "FARMWATCH_QUEUE_CHILD_DIR"
	queueChildModeEnv = "FARMWATCH_QUEUE_CHILD_MODE"
	queueChildTagEnv  = "FARMWATCH_QUEUE_CHILD_TAG"
)

func queueChild(dir, mode, tag string) *exec.Cmd {
	cmd := exec.Command(os.Args[0], "-test.run=^TestQueueChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), queueChildDirEnv+"="+dir, queueChildModeEnv+"="+mode, queueChildTagEnv+"="+tag)
	return cmd
}

func queueKillOptions(dir string) QueueOptions {
	return QueueOptions{Dir: dir, SegmentBytes: 32 << 10}
}

// queueKillData is the record a kill test child enqueues under key.
func queueKillData(key string) []byte {
	n := 0
	for _, c := range key {
		n = n*31 + int(c)
	}
	return queueTestData(key, (n&0x7FFFFFFF)%3000)
}

// TestQueueChild is the child process of the kill -9 and lock tests.
func TestQueueChild(t *testing.T) {
	dir := os.Getenv(queueChildDirEnv)
	if dir == "" {
		t.Skip("child process of TestQueueKill9 and TestQueueLockedByAnotherProcess")
	}
	q, err := OpenQueue(queueKillOptions(dir))
	if os.Getenv(queueChildModeEnv) == "lock" {
		if errors.Is(err, ErrLocked) {
			fmt.Println("LOCKED", err)
		} else {
			fmt.Println("OPENED", err)
		}
		return
	}
	if err != nil {
		t.Fatal(err)
	}
	tag := os.Getenv(queueChildTagEnv)
	var mu sync.Mutex
	say := func(format string, args ...any) { // one write per line, atomic on a pipe
		mu.Lock()
		defer mu.Unlock()
		fmt.Fprintf(os.Stdout, format, args...)
	}
	start := time.Now()
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			var mine []uint64
			for i := 0; time.Since(start) < 20*time.Second; i++ {
				key := fmt.Sprintf("%s-g%d-%d", tag, g, i)
				id, err := q.Enqueue(context.Background(), uint8(i%5), queueKillData(key))
				if err != nil {
					say("X %v\n", err)
					return
				}
				say("E %d %s\n", id, key)
				if mine = append(mine, id); len(mine) == 3 { // ack two of every three
					say("a %d %d\n", mine[0], mine[1])
					if err := q.Ack(mine[0], mine[1]); err != nil {
						say("X %v\n", err)
						return
					}
					say("A %d %d\n", mine[0], mine[1])
					mine = mine[:0]
				}
			}
		})
	}
	wg.Wait()
	q.Close()
}

func TestQueueKill9(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("no kill -9 on windows")
	}
	if testing.Short() {
		t.Skip("runs child processes")
	}
	t.Parallel()
	dir := detectortest.TempDir(t)
	seed := rand.Uint64()
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 3))

	live := map[uint64]string{} // ID → key of every record whose Enqueue returned
	acked := map[uint64]bool{}  // IDs whose Ack returned
	maybe := map[uint64]bool{}  // IDs whose Ack was under way
	var maxID uint64
	for round := range 9 {
		cmd := queueChild(dir, "kill", strconv.Itoa(round))
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		lines := make(chan string, 1<<16)
		go func() {
			defer close(lines)
			r := bufio.NewReader(out)
			for {
				line, err := r.ReadString('\n')
				if err != nil { // a last line without its newline is not complete
					return
				}
				lines <- line
			}
		}()
		var got []string
		if round%3 == 2 { // kill it at any moment, recovery at open included
			time.Sleep(time.Duration(rng.IntN(150)) * time.Millisecond)
		} else { // let it get going, then kill it at a random moment
			select {
			case l, ok := <-lines:
				if ok {
					got = append(got, l)
				}
			case <-time.After(30 * time.Second):
				t.Fatalf("round %d: the child said nothing; stderr: %s", round, stderr.String())
			}
			time.Sleep(time.Duration(rng.IntN(300)) * time.Millisecond)
		}
		if err := cmd.Process.Kill(); err != nil {
			t.Fatal(err)
		}
		for l := range lines {
			got = append(got, l)
		}
		cmd.Wait()

		var enq, acks int
		for _, l := range got {
			f := strings.Fields(l)
			switch f[0] {
			case "E":
				id, _ := strconv.ParseUint(f[1], 10, 64)
				live[id] = f[2]
				maxID = max(maxID, id)
				enq++
			case "a", "A":
				for _, s := range f[1:] {
					id, _ := strconv.ParseUint(s, 10, 64)
					if f[0] == "a" {
						maybe[id] = true
					} else {
						acked[id], acks = true, acks+1
						delete(live, id)
					}
				}
			default:
				t.Fatalf("round %d: child: %s", round, l)
			}
		}
		t.Logf("round %d: killed after %d enqueues and %d acks returned", round, enq, acks)

		q, err := OpenQueue(queueKillOptions(dir))
		if err != nil {
			t.Fatalf("round %d: reopen after kill -9: %v", round, err)
		}
		items := queuePeekAll(t, q)
		found := map[uint64][]byte{}
		for _, it := range items {
			key, _, _ := strings.Cut(string(it.Data), "|")
			if !bytes.Equal(it.Data, queueKillData(key)) {
				t.Fatalf("round %d: record %d holds damaged data", round, it.ID)
			}
			found[it.ID] = it.Data
		}
		for id, key := range live {
			data, ok := found[id]
			switch {
			case !ok && !maybe[id]:
				t.Fatalf("round %d: record %d (%s) was enqueued and is gone after kill -9", round, id, key)
			case ok && !bytes.Equal(data, queueKillData(key)):
				t.Fatalf("round %d: record %d holds %q's data, want %s's", round, id, data[:20], key)
			}
		}
		for id := range acked {
			if _, ok := found[id]; ok {
				t.Fatalf("round %d: record %d was acked and is back after kill -9", round, id)
			}
		}
		if err := q.Close(); err != nil {
			t.Fatal(err)
		}
	}
	q := queueTestOpen(t, queueKillOptions(dir))
	if id, err := q.Enqueue(t.Context(), 0, []byte("x")); err != nil || id <= maxID {
		t.Fatalf("Enqueue after the kills: ID %d, %v; want above %d", id, err, maxID)
	}
}
