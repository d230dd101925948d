package environment

import "testing"

func TestJoinLives(t *testing.T) {
	for _, tc := range []struct {
		name, earlier, all, want string
	}{
		{"one life", "", "a\nb\n", "a\nb\n"},
		{"the driver kept the first life", "a\n", "a\nb\n", "a\nb\n"},
		{"the driver lost the first life", "a\n", "b\n", "a\nb\n"},
		{"nothing after the restart", "a\n", "", "a\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := string(joinLives([]byte(tc.earlier), []byte(tc.all))); got != tc.want {
				t.Errorf("joinLives(%q, %q) = %q, want %q", tc.earlier, tc.all, got, tc.want)
			}
		})
	}
}
