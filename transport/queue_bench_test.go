package transport

import (
	"fmt"
	"runtime"
	"testing"
)

// The benchmarks use real fsyncs, in b.TempDir (set TMPDIR to measure
// another disk), with 2 KiB records.

const queueBenchRecord = 2048

func queueBenchData() []byte { return queueTestData("bench", queueBenchRecord) }

func queueBenchReport(b *testing.B, q *Queue, records int, commits0 uint64) {
	b.ReportMetric(float64(records)/b.Elapsed().Seconds(), "records/s")
	if c := q.Stats().Commits - commits0; c > 0 {
		b.ReportMetric(float64(records)/float64(c), "records/commit")
	}
}

// BenchmarkQueueEnqueueSync is concurrent Enqueue calls, each durable when
// it returns: one caller pays an fsync per record, many share them.
func BenchmarkQueueEnqueueSync(b *testing.B) {
	for _, callers := range []int{1, 16, 64} {
		b.Run(fmt.Sprintf("callers=%d", callers), func(b *testing.B) {
			q := queueTestOpen(b, QueueOptions{MaxBytes: 4 << 30})
			data := queueBenchData()
			b.SetBytes(queueBenchRecord)
			commits := q.Stats().Commits
			b.ResetTimer()
			if callers == 1 {
				for b.Loop() {
					if _, err := q.Enqueue(b.Context(), 3, data); err != nil {
						b.Fatal(err)
					}
				}
			} else {
				b.SetParallelism(max(1, callers/runtime.GOMAXPROCS(0)))
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						if _, err := q.Enqueue(b.Context(), 3, data); err != nil {
							b.Error(err)
							return
						}
					}
				})
			}
			queueBenchReport(b, q, b.N, commits)
		})
	}
}

// BenchmarkQueueEnqueueBatch is one caller storing batches of 64 records,
// one fsync each.
func BenchmarkQueueEnqueueBatch(b *testing.B) {
	q := queueTestOpen(b, QueueOptions{MaxBytes: 4 << 30})
	items := make([]QueueItem, 64)
	for i := range items {
		items[i] = QueueItem{Priority: 3, Data: queueBenchData()}
	}
	b.SetBytes(queueBenchRecord)
	commits := q.Stats().Commits
	b.ResetTimer()
	for n := 0; n < b.N; n += len(items) {
		if _, err := q.EnqueueBatch(b.Context(), items[:min(len(items), b.N-n)]); err != nil {
			b.Fatal(err)
		}
	}
	queueBenchReport(b, q, b.N, commits)
}

// BenchmarkQueuePeekAck is a sender loop: Peek 64 records, Ack them
// (durable, so one fsync of the journal each), with the queue kept 4096
// records deep by refills outside the timer.
func BenchmarkQueuePeekAck(b *testing.B) {
	q := queueTestOpen(b, QueueOptions{MaxBytes: 4 << 30})
	items := make([]QueueItem, 64)
	for i := range items {
		items[i] = QueueItem{Priority: 1, Data: queueBenchData()}
	}
	fill := func() {
		if _, err := q.EnqueueBatch(b.Context(), items); err != nil {
			b.Fatal(err)
		}
	}
	for range 64 {
		fill()
	}
	b.SetBytes(queueBenchRecord)
	b.ResetTimer()
	done := 0
	for done < b.N {
		got, err := q.Peek(len(items), 0)
		if err != nil || len(got) == 0 {
			b.Fatalf("Peek: %d items, %v", len(got), err)
		}
		if err := q.Ack(queueIDsOf(got)...); err != nil {
			b.Fatal(err)
		}
		done += len(got)
		b.StopTimer()
		fill()
		b.StartTimer()
	}
	b.ReportMetric(float64(done)/b.Elapsed().Seconds(), "records/s")
}
