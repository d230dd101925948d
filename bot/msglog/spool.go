package msglog

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// The spool is the outbox's durable copy on local disk: an append-only log
// of checksummed frames. A record frame holds a sequence number and the
// JSON record; an ack frame lists the sequence numbers the database has.
// Appends and acks that arrive while a write is running share the next
// write: one write(2) (and, with FsyncReply, one fdatasync) for a group of
// concurrent replies, without a fixed batching delay on the reply path.
// Only new bytes are written, never a page rewritten in place, so a write
// does not wait for the background sync of the page it would overwrite.
// When the file has grown well past what is still live, the live records
// are copied to a new file that replaces it (compaction).
//
// Fsync decides whether Enqueue also waits for the disk (FsyncReply), or
// only for the write to the kernel, which a crash of the process cannot
// undo, with an fdatasync following within syncEvery in the background
// (FsyncBackground): see docs/bot.md for what each survives.

// Fsync is when the spool's writes reach the disk.
type Fsync string

const (
	// FsyncReply: each write is fdatasynced before Enqueue returns.
	// Survives a power cut; costs a sync on every reply group.
	FsyncReply Fsync = "reply"
	// FsyncBackground: a write reaches the kernel before Enqueue returns
	// and is fdatasynced within syncEvery, off the reply path. Survives a
	// crash or kill of the process; a power cut can lose the last
	// milliseconds (a torn last frame is cut off at the next start).
	FsyncBackground Fsync = "background"
)

// ErrSpoolClosed is returned by writes after Close.
var ErrSpoolClosed = errors.New("spool closed")

const (
	// syncEvery is the longest FsyncBackground leaves a write unsynced
	// after the previous sync, besides the sync itself.
	syncEvery = 50 * time.Millisecond
	// maxGroup bounds the requests one write takes, so one write stays short.
	maxGroup = 512
	// compactMin: below this size the file is never compacted. Past it, it
	// is compacted once it holds more than compactRatio times its live
	// bytes, so a record is copied a bounded number of times on average.
	compactMin   = 4 << 20
	compactRatio = 4
	// maxFrame bounds a frame's body: a larger length is corruption, not a
	// record (records are a few KiB; an ack frame lists at most maxGroup
	// requests' ids).
	maxFrame = 16 << 20
)

// The file starts with spoolMagic; every frame is
// [body length uint32][CRC-32C of body uint32][body], little-endian, and a
// body is a kind byte followed by its payload.
var spoolMagic = []byte("p1001-spool-v2\n\x00")

const (
	frameHeader = 8
	kindRecord  = 'R' // uint64 sequence number, then the JSON record
	kindAck     = 'A' // uint64 sequence numbers the database has
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// SpoolStats are the spool's own counters.
type SpoolStats struct {
	Path string
	// Corrupt counts spool files found unreadable at open and moved aside.
	Corrupt uint64
	// Replayed is how many records the last run left for this one.
	Replayed uint64
}

// Spool is a durable FIFO of records. Its methods are safe for concurrent use.
type Spool struct {
	path string
	log  *slog.Logger
	lock *os.File // flock held for the spool's lifetime

	// Owned by the write loop once OpenSpool returns.
	f        *os.File
	size     int64               // bytes in f
	live     map[uint64]frameLoc // records not yet acked, by sequence number
	liveSize int64
	nextSeq  uint64

	reqs    chan *spoolReq
	closing chan struct{}
	stopped chan struct{}
	once    sync.Once

	delErrors atomic.Uint64

	loaded []entry // what the last run left, handed to the outbox once
	stats  SpoolStats
	fsync  Fsync

	// syncData is fdatasync(2) of f after a write; tests make it fail.
	syncData func(*os.File) error

	fileMu sync.Mutex    // guards f against the syncer during compaction
	dirty  chan struct{} // FsyncBackground: a write waits for its fdatasync
	synced chan struct{} // closed when the syncer has stopped
}

// frameLoc is where a record's frame is in the spool file.
type frameLoc struct{ off, n int64 }

// spoolReq is one append or ack waiting for a write.
type spoolReq struct {
	puts [][]byte // encoded records to append
	ids  []uint64 // filled in for puts
	dels []uint64
	done chan error
}

// errBusy: another process holds the spool; its file is not ours to move.
var errBusy = errors.New("locked by another process")

// OpenSpool opens the spool at path, creating it and its directory when
// missing, and reads what a previous run left in it. A file that is not a
// readable spool (garbage, a corrupt frame) never stops the bot: it is
// renamed to path.unreadable-<UTC time>, one line is logged,
// SpoolStats.Corrupt counts it, the records before the damage are kept,
// and a fresh file is written. A last frame cut short (a power cut in the
// middle of a write) is not damage: it is dropped with a warning. A spool
// of the previous format (a bbolt file) is imported. OpenSpool fails only
// when no spool can be had at all (for example the directory is
// read-only, or another process holds the spool).
func OpenSpool(path string, fsync Fsync, log *slog.Logger) (*Spool, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if fsync != FsyncReply && fsync != FsyncBackground {
		return nil, fmt.Errorf("spool fsync mode %q: want %s or %s", fsync, FsyncReply, FsyncBackground)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("spool %s: %w", path, err)
	}
	lock, err := lockFile(path + ".lock")
	if err != nil {
		return nil, fmt.Errorf("spool %s: %w", path, err)
	}
	s := &Spool{path: path, log: log, lock: lock, fsync: fsync, stats: SpoolStats{Path: path}, nextSeq: 1, syncData: fdatasync}
	if err := s.load(); err != nil {
		lock.Close()
		return nil, fmt.Errorf("spool %s: %w", path, err)
	}
	s.stats.Replayed = uint64(len(s.loaded))
	s.reqs = make(chan *spoolReq, 4*maxGroup)
	s.closing = make(chan struct{})
	s.stopped = make(chan struct{})
	s.dirty = make(chan struct{}, 1)
	s.synced = make(chan struct{})
	go s.writeLoop()
	go s.syncLoop()
	return s, nil
}

// lockFile takes an exclusive flock on path, which outlives compactions
// (they replace the spool file, not the lock file).
func lockFile(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, err
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, unix.EWOULDBLOCK) {
			return nil, errBusy
		}
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	return f, nil
}

// load reads the file left by the last run into s.loaded and starts a
// fresh file holding just those records, so that a damaged or torn file is
// never appended to.
func (s *Spool) load() error {
	var frames [][]byte
	data, err := os.ReadFile(s.path)
	switch {
	case errors.Is(err, os.ErrNotExist):
	case err != nil:
		return err
	case isBolt(data):
		s.loaded, err = importBolt(s.path)
		if err != nil {
			s.moveAside(fmt.Errorf("previous spool format: %w", err))
			s.loaded = nil
		} else if len(s.loaded) > 0 {
			s.log.Info("[Spool] imported the records of the previous spool format", "path", s.path, "records", len(s.loaded))
		}
	default:
		var rest int
		var damage error
		s.loaded, frames, rest, damage = parseLog(data)
		switch {
		case damage != nil:
			s.moveAside(damage)
		case rest > 0:
			s.log.Warn("[Spool] the last write was cut short (a power cut?): its records were never acknowledged and are dropped",
				"path", s.path, "bytes", rest)
		}
	}
	if frames == nil { // imported: framed anew
		for _, e := range s.loaded {
			frames = append(frames, recordFrame(nil, e.id, encode(e.rec)))
		}
	}
	ids := make([]uint64, len(s.loaded))
	for i, e := range s.loaded {
		ids[i] = e.id
		s.nextSeq = max(s.nextSeq, e.id+1)
	}
	return s.rewrite(ids, frames)
}

// moveAside renames the spool file for inspection, logs it and counts it.
func (s *Spool) moveAside(cause error) {
	aside := fmt.Sprintf("%s.unreadable-%s", s.path, time.Now().UTC().Format("20060102T150405.000000000Z"))
	if err := os.Rename(s.path, aside); err != nil {
		// rewrite replaces the file anyway; say that it could not be kept.
		aside = "(not kept: " + err.Error() + ")"
	}
	s.stats.Corrupt++
	s.log.Error("[Spool] unreadable spool moved aside: the records before the damage are replayed, the rest are not",
		"path", s.path, "moved_to", aside, "error", cause.Error(), "salvaged", len(s.loaded))
}

// parseLog reads a spool file: the records not acked, in order, with their
// frames, and the length of an incomplete last frame (rest). damage is set
// when the file is not a spool or a frame is corrupt; the records before
// it are returned.
func parseLog(data []byte) (loaded []entry, frames [][]byte, rest int, damage error) {
	if len(data) == 0 {
		return nil, nil, 0, nil
	}
	if !bytes.HasPrefix(data, spoolMagic) {
		if len(data) < len(spoolMagic) && bytes.HasPrefix(spoolMagic, data) {
			return nil, nil, len(data), nil // torn while the file was being created
		}
		return nil, nil, 0, errors.New("not a p1001 spool (unknown header)")
	}
	acked := map[uint64]bool{}
	var recs []entry
	var raw [][]byte
	off := len(spoolMagic)
	for off < len(data) {
		if len(data)-off < frameHeader {
			rest = len(data) - off
			break
		}
		n := int(binary.LittleEndian.Uint32(data[off:]))
		sum := binary.LittleEndian.Uint32(data[off+4:])
		if n == 0 || n > maxFrame {
			damage = fmt.Errorf("frame at byte %d: length %d", off, n)
			break
		}
		if len(data)-off-frameHeader < n {
			rest = len(data) - off
			break
		}
		body := data[off+frameHeader : off+frameHeader+n]
		if crc32.Checksum(body, castagnoli) != sum {
			damage = fmt.Errorf("frame at byte %d: checksum mismatch", off)
			break
		}
		e, ids, err := decodeBody(body)
		if err != nil {
			damage = fmt.Errorf("frame at byte %d: %w", off, err)
			break
		}
		for _, id := range ids {
			acked[id] = true
		}
		if e != nil {
			recs = append(recs, *e)
			raw = append(raw, data[off:off+frameHeader+n])
		}
		off += frameHeader + n
	}
	for i, e := range recs {
		if !acked[e.id] {
			loaded = append(loaded, e)
			frames = append(frames, raw[i])
		}
	}
	return loaded, frames, rest, damage
}

func decodeBody(body []byte) (*entry, []uint64, error) {
	switch body[0] {
	case kindRecord:
		if len(body) < 9 {
			return nil, nil, errors.New("record frame too short")
		}
		var rec Record
		if err := json.Unmarshal(body[9:], &rec); err != nil {
			return nil, nil, fmt.Errorf("record: %w", err)
		}
		return &entry{rec: rec, id: binary.LittleEndian.Uint64(body[1:]), size: len(body) - 1}, nil, nil
	case kindAck:
		if (len(body)-1)%8 != 0 {
			return nil, nil, errors.New("ack frame of a partial id")
		}
		ids := make([]uint64, 0, (len(body)-1)/8)
		for p := 1; p < len(body); p += 8 {
			ids = append(ids, binary.LittleEndian.Uint64(body[p:]))
		}
		return nil, ids, nil
	default:
		return nil, nil, fmt.Errorf("unknown frame kind %q", body[0])
	}
}

// appendFrame appends one frame of the given kind to buf.
func appendFrame(buf []byte, kind byte, payload ...[]byte) []byte {
	n := 1
	for _, p := range payload {
		n += len(p)
	}
	start := len(buf)
	buf = binary.LittleEndian.AppendUint32(buf, uint32(n))
	buf = binary.LittleEndian.AppendUint32(buf, 0) // checksum, below
	buf = append(buf, kind)
	for _, p := range payload {
		buf = append(buf, p...)
	}
	binary.LittleEndian.PutUint32(buf[start+4:], crc32.Checksum(buf[start+frameHeader:], castagnoli))
	return buf
}

func recordFrame(buf []byte, id uint64, val []byte) []byte {
	return appendFrame(buf, kindRecord, binary.LittleEndian.AppendUint64(nil, id), val)
}

// rewrite replaces the spool file with one holding just the given record
// frames: written to a temporary file, synced, renamed over the old one,
// and the directory synced, so that a crash leaves either file whole.
func (s *Spool) rewrite(ids []uint64, frames [][]byte) error {
	tmp := s.path + ".tmp"
	// O_APPEND: after a failed write is cut off (Truncate), the next one
	// lands at the new end, not past it.
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_APPEND|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	w := bufio.NewWriterSize(f, 256<<10)
	size := int64(len(spoolMagic))
	_, err = w.Write(spoolMagic)
	live := make(map[uint64]frameLoc, len(ids))
	var liveSize int64
	for i, frame := range frames {
		if err != nil {
			break
		}
		_, err = w.Write(frame)
		live[ids[i]] = frameLoc{off: size, n: int64(len(frame))}
		size += int64(len(frame))
		liveSize += int64(len(frame))
	}
	if err == nil {
		err = w.Flush()
	}
	if err == nil {
		err = unix.Fdatasync(int(f.Fd()))
	}
	if err == nil {
		err = os.Rename(tmp, s.path)
	}
	if err == nil {
		err = syncDir(filepath.Dir(s.path))
	}
	if err != nil {
		f.Close()
		os.Remove(tmp)
		return err
	}
	s.fileMu.Lock()
	old := s.f
	s.f, s.size, s.live, s.liveSize = f, size, live, liveSize
	s.fileMu.Unlock()
	if old != nil {
		old.Close()
	}
	return nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// syncLoop fdatasyncs after writes that did not (FsyncBackground); writes
// made during one sync share the next.
func (s *Spool) syncLoop() {
	defer close(s.synced)
	for {
		select {
		case <-s.dirty:
			if err := s.sync(); err != nil {
				s.log.Error("[Spool] cannot sync the spool to disk", "path", s.path, "error", err.Error())
			}
			// At most one sync per syncEvery, so syncs stay a small share of
			// the disk's work under load.
			select {
			case <-time.After(syncEvery):
			case <-s.stopped:
				return
			}
		case <-s.stopped:
			return
		}
	}
}

func (s *Spool) sync() error {
	s.fileMu.Lock()
	defer s.fileMu.Unlock()
	return s.syncData(s.f)
}

func fdatasync(f *os.File) error { return unix.Fdatasync(int(f.Fd())) }

// Path is the spool file.
func (s *Spool) Path() string { return s.path }

// Stats returns the spool's counters.
func (s *Spool) Stats() SpoolStats { return s.stats }

// deleteErrors counts failed acks (see forget).
func (s *Spool) deleteErrors() uint64 { return s.delErrors.Load() }

// takeLoaded hands what the last run left to the outbox, once.
func (s *Spool) takeLoaded() []entry {
	l := s.loaded
	s.loaded = nil
	return l
}

// encode is a record as the spool stores it.
func encode(r Record) []byte {
	v, err := json.Marshal(r)
	if err != nil { // strings, a bool and a time.Time: it cannot fail
		panic(fmt.Sprintf("msglog: encoding a record: %v", err))
	}
	return v
}

// append stores the encoded records durably, in order, and returns their ids.
func (s *Spool) append(vals [][]byte) ([]uint64, error) {
	r := &spoolReq{puts: vals, done: make(chan error, 1)}
	if err := s.do(r); err != nil {
		return nil, err
	}
	return r.ids, nil
}

// forget acks records by id without waiting: the ack joins the next write,
// with the next replies' appends. Until it is written the records would
// only be replayed, which the store makes harmless; a failed ack is logged
// and counted (Errors).
func (s *Spool) forget(ids []uint64) {
	if len(ids) == 0 {
		return
	}
	select {
	case s.reqs <- &spoolReq{dels: ids, done: make(chan error, 1)}:
	case <-s.closing:
	}
}

func (s *Spool) do(r *spoolReq) error {
	select {
	case s.reqs <- r:
	case <-s.closing:
		return ErrSpoolClosed
	}
	select {
	case err := <-r.done:
		return err
	case <-s.stopped:
		// The loop may have answered just before stopping.
		select {
		case err := <-r.done:
			return err
		default:
			return ErrSpoolClosed
		}
	}
}

// writeLoop writes what is waiting, one write per group, until Close.
func (s *Spool) writeLoop() {
	defer close(s.stopped)
	var buf []byte
	for {
		var first *spoolReq
		closing := false
		select {
		case first = <-s.reqs:
		case <-s.closing:
			// Write what was handed over before Close, then stop.
			closing = true
			select {
			case first = <-s.reqs:
			default:
				return
			}
		}
		group := []*spoolReq{first}
	gather:
		for len(group) < maxGroup || closing {
			select {
			case r := <-s.reqs:
				group = append(group, r)
			default:
				break gather
			}
		}
		buf = buf[:0]
		err := s.write(group, &buf)
		for _, r := range group {
			if len(r.dels) > 0 { // nobody waits for an ack: account for it here
				if err != nil {
					s.delErrors.Add(1)
					s.log.Warn("[Spool] cannot delete records the database has: they will be replayed (harmless) at the next start",
						"records", len(r.dels), "error", err.Error())
				}
				continue
			}
			r.done <- err
		}
		if err == nil {
			s.maybeCompact()
		}
		if err == nil && s.fsync == FsyncBackground {
			select {
			case s.dirty <- struct{}{}:
			default: // a sync is already due
			}
		}
	}
}

// write appends the group's acks and records in one write. A failed or
// short write is cut off again, so that the file never holds a partial
// frame ahead of later ones.
func (s *Spool) write(group []*spoolReq, buf *[]byte) error {
	var acks []byte
	for _, r := range group {
		for _, id := range r.dels {
			acks = binary.LittleEndian.AppendUint64(acks, id)
		}
	}
	b := *buf
	if len(acks) > 0 {
		b = appendFrame(b, kindAck, acks)
	}
	next := s.nextSeq
	for _, r := range group {
		r.ids = r.ids[:0]
		for _, v := range r.puts {
			r.ids = append(r.ids, next)
			b = recordFrame(b, next, v)
			next++
		}
	}
	*buf = b
	if _, err := s.f.Write(b); err != nil {
		if terr := s.f.Truncate(s.size); terr != nil {
			err = errors.Join(err, fmt.Errorf("cutting off the failed write: %w", terr))
		}
		return err
	}
	// The bytes are in the file whatever the sync says: account for them
	// first, or every later offset (and so compaction) would be wrong.
	off := s.size + int64(len(b)) - int64(recordFramesLen(group)) // the record frames follow the ack frame, in id order
	s.size += int64(len(b))
	s.nextSeq = next
	if s.fsync == FsyncReply {
		if err := s.syncData(s.f); err != nil {
			// Not durable, so not live: the caller keeps the records in
			// memory; their frames, unacked, are dropped by the next
			// compaction or replayed (harmlessly) by the next start.
			return err
		}
	}
	for _, r := range group {
		for _, id := range r.dels {
			if loc, ok := s.live[id]; ok {
				s.liveSize -= loc.n
				delete(s.live, id)
			}
		}
	}
	for _, r := range group {
		for i, id := range r.ids {
			n := int64(frameHeader + 1 + 8 + len(r.puts[i]))
			s.live[id] = frameLoc{off: off, n: n}
			s.liveSize += n
			off += n
		}
	}
	return nil
}

func recordFramesLen(group []*spoolReq) int {
	n := 0
	for _, r := range group {
		for _, v := range r.puts {
			n += frameHeader + 1 + 8 + len(v)
		}
	}
	return n
}

// maybeCompact copies the live records' frames to a fresh file once the
// file has grown well past them. It reads them back from the file (the
// page cache), not from memory: the spool keeps only where they are.
func (s *Spool) maybeCompact() {
	if s.size < compactMin || s.size < compactRatio*s.liveSize {
		return
	}
	data, err := os.ReadFile(s.path)
	if err == nil && int64(len(data)) != s.size {
		err = fmt.Errorf("the file is %d bytes, %d were written", len(data), s.size)
	}
	if err == nil {
		ids := slices.Sorted(maps.Keys(s.live))
		frames := make([][]byte, len(ids))
		for i, id := range ids {
			loc := s.live[id]
			frames[i] = data[loc.off : loc.off+loc.n]
		}
		err = s.rewrite(ids, frames)
	}
	if err != nil {
		// The file stays valid and keeps growing; the next write tries again.
		s.log.Warn("[Spool] cannot compact the spool", "path", s.path, "error", err.Error())
	}
}

// Close stops the write loop and closes the file. Records still in it stay
// for the next run.
func (s *Spool) Close() error {
	var err error
	s.once.Do(func() {
		close(s.closing)
		<-s.stopped
		<-s.synced
		err = errors.Join(unix.Fdatasync(int(s.f.Fd())), s.f.Close(), s.lock.Close())
	})
	return err
}
