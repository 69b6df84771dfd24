package transport

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"hash/crc32"
	"slices"
)

// On-disk format of the queue, version 1; see the Queue doc comment for the
// picture. Everything here is plain bytes: no file is opened in this file.

const (
	queueFormatVersion = 1

	// queueHeaderLen is the size of the header that starts every segment and
	// journal file: a 4-byte magic, the format version (uint16) and two
	// reserved zero bytes.
	queueHeaderLen = 8

	// queueFrameHeaderLen is the size of a frame's header: frame magic
	// (uint32), CRC-32C of the length and body (uint32), body length (uint32).
	queueFrameHeaderLen = 12

	// queueRecordFixed is the fixed part of a data record's body: ID
	// (uint64), enqueue time in Unix nanoseconds (int64), priority (uint8).
	queueRecordFixed = 17

	// queueRecordOverhead is what a data record costs on disk on top of its
	// data; MaxBytes counts data plus this overhead.
	queueRecordOverhead = queueFrameHeaderLen + queueRecordFixed

	// queueMaxData bounds one record's data.
	queueMaxData = 64 << 20

	// queueMaxID bounds IDs, so that a damaged file cannot push the next
	// ID to overflow.
	queueMaxID = 1 << 62

	// Priorities run from 0 (info) to queuePriorities-1 (critical).
	queuePriorities = 5

	// queueRunsPerFrame bounds the ID runs in one journal frame.
	queueRunsPerFrame = 4096

	// Journal frame kinds (the first byte of a journal frame's body).
	queueJournalState = 1 // next ID (uint64), then cumulative drops by priority (5 × uint64)
	queueJournalDead  = 2 // runs of acked or dropped IDs: first ID (uint64), count (uint64)
	queueJournalDrops = 3 // drops by priority since the last state frame (5 × uint64), added up
)

var (
	queueSegmentMagic = [4]byte{'F', 'W', 'Q', 'S'}
	queueJournalMagic = [4]byte{'F', 'W', 'Q', 'J'}

	// Frame magics: bytes that JSON and text never contain, so that a reader
	// resynchronises on them after damage.
	queueRecordMagic = binary.LittleEndian.Uint32([]byte{0xF7, 0x51, 0x9A, 0xD3})
	queueJEntryMagic = binary.LittleEndian.Uint32([]byte{0xF7, 0x4A, 0x9A, 0xD3})

	queueMaxRecordBody  = queueRecordFixed + queueMaxData
	queueMaxJournalBody = 1 + 16*queueRunsPerFrame

	queueCRC = crc32.MakeTable(crc32.Castagnoli)
)

// appendQueueHeader appends a file header with magic and the current version.
func appendQueueHeader(dst []byte, magic [4]byte) []byte {
	dst = append(dst, magic[:]...)
	dst = binary.LittleEndian.AppendUint16(dst, queueFormatVersion)
	return append(dst, 0, 0)
}

// queueHeaderVersion returns the format version of a file that starts with
// b, and false when b does not start with magic followed by a version.
func queueHeaderVersion(b []byte, magic [4]byte) (uint16, bool) {
	if len(b) < 6 || !bytes.Equal(b[:4], magic[:]) {
		return 0, false
	}
	return binary.LittleEndian.Uint16(b[4:6]), true
}

// queueHeaderOK reports whether b starts with an intact current header.
func queueHeaderOK(b []byte, magic [4]byte) bool {
	v, ok := queueHeaderVersion(b, magic)
	return ok && v == queueFormatVersion && len(b) >= queueHeaderLen && b[6] == 0 && b[7] == 0
}

// beginQueueFrame appends a frame header whose length and checksum
// endQueueFrame fills in once the body has been appended after it.
func beginQueueFrame(dst []byte, magic uint32) ([]byte, int) {
	start := len(dst)
	dst = binary.LittleEndian.AppendUint32(dst, magic)
	return append(dst, 0, 0, 0, 0, 0, 0, 0, 0), start
}

func endQueueFrame(dst []byte, start int) []byte {
	binary.LittleEndian.PutUint32(dst[start+8:], uint32(len(dst)-start-queueFrameHeaderLen))
	binary.LittleEndian.PutUint32(dst[start+4:], crc32.Checksum(dst[start+8:], queueCRC))
	return dst
}

// parseQueueFrame returns the body of the frame at the start of b when its
// magic, length and checksum are right.
func parseQueueFrame(b []byte, magic uint32, maxBody int) ([]byte, bool) {
	if len(b) < queueFrameHeaderLen || binary.LittleEndian.Uint32(b) != magic {
		return nil, false
	}
	n := uint64(binary.LittleEndian.Uint32(b[8:]))
	if n > uint64(maxBody) || n > uint64(len(b)-queueFrameHeaderLen) {
		return nil, false
	}
	end := queueFrameHeaderLen + int(n)
	if crc32.Checksum(b[8:end], queueCRC) != binary.LittleEndian.Uint32(b[4:]) {
		return nil, false
	}
	return b[queueFrameHeaderLen:end], true
}

// scanQueueFrames walks the frames of b from offset start. Each frame whose
// magic, length and checksum are right goes to accept, which returns false
// when its body makes no sense (and must then change nothing). Bytes that are
// not part of an accepted frame are reported to damaged, one call per
// stretch, and the walk resynchronises at the next occurrence of the magic.
func scanQueueFrames(b []byte, start int, magic uint32, maxBody int, accept func(off int, body []byte) bool, damaged func(off, n int)) {
	var m [4]byte
	binary.LittleEndian.PutUint32(m[:], magic)
	bad := -1
	for pos := start; pos < len(b); {
		if body, ok := parseQueueFrame(b[pos:], magic, maxBody); ok && accept(pos, body) {
			if bad >= 0 {
				damaged(bad, pos-bad)
				bad = -1
			}
			pos += queueFrameHeaderLen + len(body)
			continue
		}
		if bad < 0 {
			bad = pos
		}
		next := bytes.Index(b[pos+1:], m[:])
		if next < 0 {
			break
		}
		pos += 1 + next
	}
	if bad >= 0 {
		damaged(bad, len(b)-bad)
	}
}

// queueRecord is a decoded data record; data aliases the frame's bytes.
type queueRecord struct {
	id   uint64
	at   int64
	prio uint8
	data []byte
}

func appendQueueRecord(dst []byte, id uint64, at int64, prio uint8, data []byte) []byte {
	dst, start := beginQueueFrame(dst, queueRecordMagic)
	dst = binary.LittleEndian.AppendUint64(dst, id)
	dst = binary.LittleEndian.AppendUint64(dst, uint64(at))
	dst = append(dst, prio)
	dst = append(dst, data...)
	return endQueueFrame(dst, start)
}

func decodeQueueRecord(body []byte) (queueRecord, bool) {
	if len(body) < queueRecordFixed {
		return queueRecord{}, false
	}
	r := queueRecord{
		id:   binary.LittleEndian.Uint64(body),
		at:   int64(binary.LittleEndian.Uint64(body[8:])),
		prio: body[16],
		data: body[queueRecordFixed:],
	}
	if r.id == 0 || r.id >= queueMaxID || r.prio >= queuePriorities {
		return queueRecord{}, false
	}
	return r, true
}

// queueRun is the IDs first … first+n-1.
type queueRun struct{ first, n uint64 }

// queueRunsOf returns ids as sorted runs of consecutive IDs.
func queueRunsOf(ids []uint64) []queueRun {
	ids = slices.Clone(ids)
	slices.Sort(ids)
	var runs []queueRun
	for _, id := range ids {
		if k := len(runs) - 1; k >= 0 && runs[k].first+runs[k].n >= id {
			runs[k].n = max(runs[k].n, id-runs[k].first+1)
			continue
		}
		runs = append(runs, queueRun{id, 1})
	}
	return runs
}

// queueRunSet is a set of IDs, as runs sorted by first ID once normalised.
type queueRunSet []queueRun

// normalize sorts s and merges its overlapping and adjacent runs.
func (s *queueRunSet) normalize() {
	slices.SortFunc(*s, func(a, b queueRun) int {
		return cmp.Compare(a.first, b.first)
	})
	out := (*s)[:0]
	for _, r := range *s {
		if k := len(out) - 1; k >= 0 && out[k].first+out[k].n >= r.first {
			out[k].n = max(out[k].n, r.first+r.n-out[k].first)
			continue
		}
		out = append(out, r)
	}
	*s = out
}

// has reports whether a normalised s holds id.
func (s queueRunSet) has(id uint64) bool {
	i, _ := slices.BinarySearchFunc(s, id, func(r queueRun, id uint64) int {
		if r.first+r.n <= id {
			return -1
		}
		return 0
	})
	return i < len(s) && s[i].first <= id
}

// end returns one past the highest ID of a normalised s, or 0.
func (s queueRunSet) end() uint64 {
	if len(s) == 0 {
		return 0
	}
	return s[len(s)-1].first + s[len(s)-1].n
}

// queueJournalEntry is a decoded journal frame.
type queueJournalEntry struct {
	kind   byte
	nextID uint64                  // state
	drops  [queuePriorities]uint64 // state (cumulative) or drops (to add)
	runs   []queueRun              // dead
}

func appendQueueState(dst []byte, nextID uint64, drops [queuePriorities]uint64) []byte {
	dst, start := beginQueueFrame(dst, queueJEntryMagic)
	dst = append(dst, queueJournalState)
	dst = binary.LittleEndian.AppendUint64(dst, nextID)
	for _, d := range drops {
		dst = binary.LittleEndian.AppendUint64(dst, d)
	}
	return endQueueFrame(dst, start)
}

func appendQueueDrops(dst []byte, drops [queuePriorities]uint64) []byte {
	dst, start := beginQueueFrame(dst, queueJEntryMagic)
	dst = append(dst, queueJournalDrops)
	for _, d := range drops {
		dst = binary.LittleEndian.AppendUint64(dst, d)
	}
	return endQueueFrame(dst, start)
}

// appendQueueDead appends runs as dead frames of at most queueRunsPerFrame
// runs each.
func appendQueueDead(dst []byte, runs []queueRun) []byte {
	for chunk := range slices.Chunk(runs, queueRunsPerFrame) {
		var start int
		dst, start = beginQueueFrame(dst, queueJEntryMagic)
		dst = append(dst, queueJournalDead)
		for _, r := range chunk {
			dst = binary.LittleEndian.AppendUint64(dst, r.first)
			dst = binary.LittleEndian.AppendUint64(dst, r.n)
		}
		dst = endQueueFrame(dst, start)
	}
	return dst
}

func decodeQueueJournal(body []byte) (queueJournalEntry, bool) {
	if len(body) == 0 {
		return queueJournalEntry{}, false
	}
	e := queueJournalEntry{kind: body[0]}
	p := body[1:]
	switch e.kind {
	case queueJournalState, queueJournalDrops:
		if e.kind == queueJournalState {
			if len(p) != 8+8*queuePriorities {
				return queueJournalEntry{}, false
			}
			e.nextID, p = binary.LittleEndian.Uint64(p), p[8:]
			if e.nextID > queueMaxID {
				return queueJournalEntry{}, false
			}
		} else if len(p) != 8*queuePriorities {
			return queueJournalEntry{}, false
		}
		for i := range e.drops {
			e.drops[i] = binary.LittleEndian.Uint64(p[8*i:])
		}
	case queueJournalDead:
		if len(p) == 0 || len(p)%16 != 0 {
			return queueJournalEntry{}, false
		}
		for ; len(p) > 0; p = p[16:] {
			r := queueRun{binary.LittleEndian.Uint64(p), binary.LittleEndian.Uint64(p[8:])}
			if r.first == 0 || r.n == 0 || r.first >= queueMaxID || r.n > queueMaxID-r.first {
				return queueJournalEntry{}, false
			}
			e.runs = append(e.runs, r)
		}
	default:
		return queueJournalEntry{}, false
	}
	return e, true
}
