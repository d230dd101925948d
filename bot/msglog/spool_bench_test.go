package msglog

import (
	"path/filepath"
	"testing"
	"time"
)

// BenchmarkEnqueue is the reply path's share of the message log: one
// conversation (two records) per operation, memory only and in both spool
// modes, while a writer takes what is queued. -cpu sets the concurrency.
func BenchmarkEnqueue(b *testing.B) {
	for _, mode := range []string{"memory", string(FsyncBackground), string(FsyncReply)} {
		b.Run(mode, func(b *testing.B) {
			opts := Options{Capacity: 1 << 20}
			if mode != "memory" {
				sp, err := OpenSpool(filepath.Join(b.TempDir(), "spool.db"), Fsync(mode), nil)
				if err != nil {
					b.Fatal(err)
				}
				defer sp.Close()
				opts.Spool = sp
			}
			o := New(opts)
			startRun(b, o, &fakeWriter{}, nil)
			pair := recs(0, 2)
			for i := range pair {
				pair[i].Text = "hello there"
				pair[i].At = time.Now()
			}
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					o.Enqueue(pair...)
				}
			})
		})
	}
}
