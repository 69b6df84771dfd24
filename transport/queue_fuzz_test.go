package transport

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/farmwatch/farmwatch/detectors/detectortest"
)

// FuzzQueueRecover opens a queue whose directory holds arbitrary bytes as a
// segment file and as the journal. Open must not fail (but for an unknown
// version, leaving the files alone) nor panic, what it recovers must be
// well formed, and a second open must find nothing left to repair.
func FuzzQueueRecover(f *testing.F) {
	seg := appendQueueHeader(nil, queueSegmentMagic)
	for i := range uint64(5) {
		seg = appendQueueRecord(seg, i+1, int64(i)*1e9, uint8(i%5), queueTestData("seed", int(i)*40))
	}
	journal := appendQueueHeader(nil, queueJournalMagic)
	journal = appendQueueState(journal, 6, [5]uint64{7, 1, 0, 0, 0})
	journal = appendQueueDead(journal, []queueRun{{2, 2}})
	journal = appendQueueDrops(journal, [5]uint64{0, 1, 2, 0, 0})

	f.Add(seg, journal)
	f.Add(seg, []byte{})
	f.Add(seg[:len(seg)-7], journal[:len(journal)-3])
	f.Add(append(append(bytes.Clone(seg[:70]), "garbage\xF7\x51\x9A\xD3"...), seg[70:]...), journal)
	f.Add(seg[queueHeaderLen:], journal[queueHeaderLen:])
	f.Add([]byte{}, []byte{})
	f.Add([]byte("FWQS\x02\x00\x00\x00"), journal)

	f.Fuzz(func(t *testing.T, seg, journal []byte) {
		dir := detectortest.TempDir(t)
		segPath := filepath.Join(dir, "seg-0000000000000001.fwq")
		if err := os.WriteFile(segPath, seg, 0o600); err != nil {
			t.Fatal(err)
		}
		if len(journal) > 0 {
			if err := os.WriteFile(filepath.Join(dir, queueJournalName), journal, 0o600); err != nil {
				t.Fatal(err)
			}
		}
		opts := QueueOptions{Dir: dir, NoSync: true}
		q, err := OpenQueue(opts)
		if err != nil {
			if !errors.Is(err, ErrVersion) {
				t.Fatalf("OpenQueue: %v", err)
			}
			if b, _ := os.ReadFile(segPath); !bytes.Equal(b, seg) {
				t.Fatal("a refused open changed the segment")
			}
			return
		}
		items := queuePeekAll(t, q)
		var last uint64
		for _, it := range items {
			if it.ID <= last || it.Priority >= queuePriorities {
				t.Fatalf("recovered item ID %d priority %d after ID %d", it.ID, it.Priority, last)
			}
			last = it.ID
		}
		if st := q.Stats(); st.Depth != len(items) {
			t.Fatalf("Depth %d, Peek returned %d", st.Depth, len(items))
		}
		id, err := q.Enqueue(t.Context(), 4, []byte("after"))
		if err != nil || id <= last {
			t.Fatalf("Enqueue after recovery: ID %d, %v; want above %d", id, err, last)
		}
		drops := q.Stats().Drops
		if err := q.Close(); err != nil {
			t.Fatal(err)
		}

		q = queueTestOpen(t, opts)
		want := append(items, QueueItem{ID: id, Data: []byte("after")})
		got := queuePeekAll(t, q)
		if len(got) != len(want) {
			t.Fatalf("reopened: IDs %v, want %v", queueIDsOf(got), queueIDsOf(want))
		}
		for i := range got {
			if got[i].ID != want[i].ID || !bytes.Equal(got[i].Data, want[i].Data) {
				t.Fatalf("reopened: item %d is %d %q, want %d %q", i, got[i].ID, got[i].Data, want[i].ID, want[i].Data)
			}
		}
		if st := q.Stats(); st.Skipped != 0 || st.Drops != drops {
			t.Fatalf("reopened: %+v; want nothing skipped and drops %v", st, drops)
		}
	})
}
