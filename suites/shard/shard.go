// Package shard splits the scenario catalog across CI machines: `make
// chaos SHARD=i/n` runs the scenario files whose shard is i.
//
// The files are sorted by base name ("black-hole.yaml") and dealt round
// the shards: the k-th file (from 0) goes to shard k mod n + 1. For a given
// catalog and n, a file always lands in the same shard, on every machine
// and in every run, and every file in exactly one shard; the shards differ
// in size by one file at most. A file added to the catalog moves the files
// that sort after it, which is harmless: every shard of a CI run checks out
// the same commit, so all see the same catalog. A hash of the name would
// keep files in place across catalog changes, but on 32 files it gave
// shards of 5, 6, 9 and 12 scenarios for n=4 (FNV-1a), and the CI wall
// time is the slowest shard's.
//
// Sharding is by file, never by label: a scenario carrying two fault
// labels is one file, so it runs once.
//
// The spec files outside the catalog (auth, doctor, startup, ...) are
// dealt the same way, each file to one shard, but from the last shard
// down: the first shard also runs the smoke specs, which stay there. In
// one run with every such spec in shard 1, shard 1 took 164 s of specs and
// the others 53 to 69 s; the CI wall time is the slowest shard's.
package shard

import (
	"fmt"
	"maps"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// Shard is shard Index of Count (1 <= Index <= Count). The zero Shard is
// "no sharding": it holds every file.
type Shard struct {
	Index, Count int
}

// Env is the environment variable that carries the shard to the chaos
// suite's processes (hack/chaos.sh sets it from SHARD=i/n).
const Env = "P1001_SHARD"

// Parse reads "i/n" (1 <= i <= n); "" is no sharding.
func Parse(s string) (Shard, error) {
	if s == "" {
		return Shard{}, nil
	}
	is, ns, ok := strings.Cut(s, "/")
	i, errI := strconv.Atoi(is)
	n, errN := strconv.Atoi(ns)
	if !ok || errI != nil || errN != nil {
		return Shard{}, fmt.Errorf("shard %q: want i/n, such as 1/4", s)
	}
	if n < 1 || i < 1 || i > n {
		return Shard{}, fmt.Errorf("shard %q: want 1 <= i <= n", s)
	}
	return Shard{Index: i, Count: n}, nil
}

// String is "i/n", "" for no sharding.
func (s Shard) String() string {
	if s.Count == 0 {
		return ""
	}
	return fmt.Sprintf("%d/%d", s.Index, s.Count)
}

// Assign maps each file's base name to its shard (1..n): the files sorted
// by base name, dealt round the shards. Duplicate base names are an error:
// they would be one scenario twice.
func Assign(files []string, n int) (map[string]int, error) {
	return deal(files, n, func(k int) int { return k%n + 1 })
}

// AssignFromLast is Assign dealing from shard n down to shard 1.
func AssignFromLast(files []string, n int) (map[string]int, error) {
	return deal(files, n, func(k int) int { return n - k%n })
}

func deal(files []string, n int, shardOf func(k int) int) (map[string]int, error) {
	if n < 1 {
		return nil, fmt.Errorf("shard count %d: want at least 1", n)
	}
	names := make([]string, len(files))
	for i, f := range files {
		names[i] = filepath.Base(f)
	}
	slices.Sort(names)
	out := make(map[string]int, len(names))
	for k, name := range names {
		if k > 0 && names[k-1] == name {
			return nil, fmt.Errorf("scenario file %s appears twice", name)
		}
		out[name] = shardOf(k)
	}
	return out, nil
}

// Select returns the files of s, in their order; every file for the zero
// Shard.
func (s Shard) Select(files []string) ([]string, error) {
	if s.Count == 0 {
		return slices.Clone(files), nil
	}
	of, err := Assign(files, s.Count)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, f := range files {
		if of[filepath.Base(f)] == s.Index {
			out = append(out, f)
		}
	}
	return out, nil
}

// First reports whether s is the shard that runs the smoke specs: shard
// 1, or no sharding.
func (s Shard) First() bool { return s.Count == 0 || s.Index == 1 }

// SkipSpecs returns, of the spec files outside the catalog (any paths),
// the base names s does not run: the files named in first (the smoke
// specs') run in the first shard only, the others are dealt from the last
// shard down (AssignFromLast). Nothing for the zero Shard.
func (s Shard) SkipSpecs(files, first []string) ([]string, error) {
	if s.Count == 0 {
		return nil, nil
	}
	var dealt, skip []string
	for _, f := range files {
		switch {
		case !slices.Contains(first, filepath.Base(f)):
			dealt = append(dealt, f)
		case !s.First():
			skip = append(skip, filepath.Base(f))
		}
	}
	of, err := AssignFromLast(dealt, s.Count)
	if err != nil {
		return nil, err
	}
	for _, name := range slices.Sorted(maps.Keys(of)) {
		if of[name] != s.Index {
			skip = append(skip, name)
		}
	}
	slices.Sort(skip)
	return skip, nil
}
