package shard

import (
	"fmt"
	"maps"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	tests := []struct {
		in      string
		want    Shard
		wantErr string
	}{
		{"", Shard{}, ""},
		{"1/1", Shard{1, 1}, ""},
		{"2/4", Shard{2, 4}, ""},
		{"4/4", Shard{4, 4}, ""},
		{"0/4", Shard{}, "1 <= i <= n"},
		{"5/4", Shard{}, "1 <= i <= n"},
		{"1/0", Shard{}, "1 <= i <= n"},
		{"-1/4", Shard{}, "1 <= i <= n"},
		{"1", Shard{}, "want i/n"},
		{"a/4", Shard{}, "want i/n"},
		{"1/4/2", Shard{}, "want i/n"},
		{" 1/4", Shard{}, "want i/n"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := Parse(tt.in)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !strings.Contains(err.Error(), fmt.Sprintf("%q", tt.in)) {
					t.Fatalf("Parse(%q) = %v, %v; want an error naming the input and containing %q", tt.in, got, err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("Parse(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
			}
			if got.String() != tt.in {
				t.Errorf("String() = %q, want %q", got.String(), tt.in)
			}
		})
	}
}

// catalogs are today's scenario files and made-up ones, so that the
// properties hold beyond today's catalog.
func catalogs(t *testing.T) map[string][]string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("..", "..", "scenarios", "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 10 {
		t.Fatalf("found %d scenario files in ../../scenarios, want the catalog", len(files))
	}
	var madeUp []string
	for i := range 97 {
		madeUp = append(madeUp, fmt.Sprintf("dir%d/made-up-%03d.yaml", i%3, (i*37)%97))
	}
	return map[string][]string{"today's catalog": files, "97 made-up files": madeUp, "one file": {"a.yaml"}, "none": nil}
}

func shardsOf(t *testing.T, files []string, n int) [][]string {
	t.Helper()
	out := make([][]string, n)
	for i := range n {
		got, err := Shard{i + 1, n}.Select(files)
		if err != nil {
			t.Fatal(err)
		}
		out[i] = got
	}
	return out
}

// Every file is in exactly one shard of n, and the shards differ in size
// by one file at most.
func TestDisjointCoveringBalanced(t *testing.T) {
	for name, files := range catalogs(t) {
		for _, n := range []int{1, 2, 3, 4, 5, 8, 64} {
			t.Run(fmt.Sprintf("%s/%d", name, n), func(t *testing.T) {
				seen := map[string][]int{}
				sizes := []int{}
				for i, s := range shardsOf(t, files, n) {
					sizes = append(sizes, len(s))
					for _, f := range s {
						seen[f] = append(seen[f], i+1)
					}
				}
				for _, f := range files {
					if len(seen[f]) != 1 {
						t.Errorf("%s is in shards %v of %d, want exactly one", f, seen[f], n)
					}
				}
				if len(seen) != len(files) {
					t.Errorf("the shards hold %d files, the catalog %d", len(seen), len(files))
				}
				if slices.Max(sizes)-slices.Min(sizes) > 1 {
					t.Errorf("shard sizes %v differ by more than one", sizes)
				}
			})
		}
	}
}

// A file's shard depends on the catalog's base names and n only: not on
// the directory, nor on the order the files are listed in.
func TestStable(t *testing.T) {
	for name, files := range catalogs(t) {
		t.Run(name, func(t *testing.T) {
			for _, n := range []int{2, 3, 4} {
				want, err := Assign(files, n)
				if err != nil {
					t.Fatal(err)
				}
				other := make([]string, len(files))
				for i, f := range files {
					other[len(files)-1-i] = filepath.Join("elsewhere", filepath.Base(f))
				}
				got, err := Assign(other, n)
				if err != nil {
					t.Fatal(err)
				}
				if !maps.Equal(got, want) {
					t.Errorf("n=%d: another order and directory moved files: %v, want %v", n, got, want)
				}
			}
		})
	}
	// Pinned on made-up names: a change of the rule moves files between CI
	// jobs, and must be deliberate.
	got, err := Assign([]string{"d.yaml", "b.yaml", "a.yaml", "e.yaml", "c.yaml"}, 2)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]int{"a.yaml": 1, "b.yaml": 2, "c.yaml": 1, "d.yaml": 2, "e.yaml": 1}
	if !maps.Equal(got, want) {
		t.Errorf("Assign = %v, want %v", got, want)
	}
}

func TestErrors(t *testing.T) {
	if _, err := Assign([]string{"x/a.yaml", "y/a.yaml"}, 2); err == nil || !strings.Contains(err.Error(), "a.yaml appears twice") {
		t.Errorf("duplicate base names: %v, want an error naming a.yaml", err)
	}
	if _, err := Assign([]string{"a.yaml"}, 0); err == nil {
		t.Error("n=0: no error")
	}
}

func TestNoShardingAndFirst(t *testing.T) {
	files := catalogs(t)["today's catalog"]
	got, err := Shard{}.Select(files)
	if err != nil || !slices.Equal(got, files) {
		t.Errorf("the zero Shard selects %d of %d files (%v)", len(got), len(files), err)
	}
	tests := []struct {
		s    Shard
		want bool
	}{{Shard{}, true}, {Shard{1, 1}, true}, {Shard{1, 4}, true}, {Shard{2, 4}, false}, {Shard{4, 4}, false}}
	for _, tt := range tests {
		if got := tt.s.First(); got != tt.want {
			t.Errorf("%v.First() = %v, want %v", tt.s, got, tt.want)
		}
	}
}

func TestSkipSpecs(t *testing.T) {
	specs := []string{"suites/chaos/auth_test.go", "bot_test.go", "dburl_test.go", "deadline_test.go",
		"doctor_test.go", "security_test.go", "smoke_test.go", "startup_test.go"}
	first := []string{"smoke_test.go", "bot_test.go"}
	for _, n := range []int{1, 2, 3, 4, 7, 9} {
		runs := map[string]int{}
		for i := 1; i <= n; i++ {
			skip, err := Shard{i, n}.SkipSpecs(specs, first)
			if err != nil {
				t.Fatal(err)
			}
			for _, f := range specs {
				if !slices.Contains(skip, filepath.Base(f)) {
					runs[filepath.Base(f)]++
					if slices.Contains(first, filepath.Base(f)) && i != 1 {
						t.Errorf("n=%d: %s runs in shard %d, want the first only", n, f, i)
					}
				}
			}
		}
		for _, f := range specs {
			if runs[filepath.Base(f)] != 1 {
				t.Errorf("n=%d: %s runs in %d shards, want exactly one", n, f, runs[filepath.Base(f)])
			}
		}
	}
	// From the last shard down: of the six dealt files, sorted by name,
	// shard 4 gets the first and fifth, shard 1 only the fourth (doctor).
	skip, err := Shard{1, 4}.SkipSpecs(specs, first)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"auth_test.go", "dburl_test.go", "deadline_test.go", "security_test.go", "startup_test.go"}
	if !slices.Equal(skip, want) {
		t.Errorf("shard 1/4 skips %v, want %v", skip, want)
	}
	if skip, _ := (Shard{}).SkipSpecs(specs, first); skip != nil {
		t.Errorf("the zero Shard skips %v, want nothing", skip)
	}
	if _, err := (Shard{1, 2}).SkipSpecs([]string{"a/x_test.go", "b/x_test.go"}, nil); err == nil {
		t.Error("two files of one base name: no error")
	}
}
