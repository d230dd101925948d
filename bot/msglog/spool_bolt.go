package msglog

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"os"
	"runtime/debug"
	"time"

	bolt "go.etcd.io/bbolt"
)

// The first durable spool was a bbolt file, one bucket mapping a big-endian
// sequence number to a JSON record. A spool of that format found at start
// is imported, so that an upgrade replays what the last run left.

var boltBucket = []byte("records.v1")

// boltMagic is bbolt's meta page magic, after the 16-byte page header.
const boltMagic = 0xED0CDAED

func isBolt(data []byte) bool {
	return len(data) >= 20 && binary.LittleEndian.Uint32(data[16:]) == boltMagic
}

// importBolt reads every record of a bbolt spool, checking the file first:
// bbolt trusts its pages, and a page past the end of a truncated file would
// fault when read.
func importBolt(path string) (loaded []entry, err error) {
	// A fault while reading a mapped page becomes a panic instead of killing
	// the process, and bbolt panics on some corrupt pages: both are
	// recovered here. Everything bbolt reads runs in this goroutine.
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if r := recover(); r != nil {
			loaded, err = nil, fmt.Errorf("corrupt spool: %v", r)
		}
	}()
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second, ReadOnly: true})
	if err != nil {
		return nil, err
	}
	defer db.Close()
	info, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	err = db.View(func(tx *bolt.Tx) error {
		if tx.Size() > info.Size() {
			return fmt.Errorf("truncated: %d bytes, its pages need %d", info.Size(), tx.Size())
		}
		b := tx.Bucket(boltBucket)
		if b == nil {
			return nil
		}
		return b.ForEach(func(k, v []byte) error {
			if len(k) != 8 {
				return fmt.Errorf("key %x is not a sequence number", k)
			}
			var rec Record
			if err := json.Unmarshal(v, &rec); err != nil {
				return fmt.Errorf("record %d: %w", binary.BigEndian.Uint64(k), err)
			}
			loaded = append(loaded, entry{rec: rec, id: binary.BigEndian.Uint64(k), size: len(k) + len(v)})
			return nil
		})
	})
	return loaded, err
}
