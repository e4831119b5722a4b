package sqldb

import (
	"testing"
	"time"
)

func TestLockoutGrowsAndNeverOverflows(t *testing.T) {
	tests := []struct {
		n    int
		want time.Duration
	}{
		{1, 0}, {3, 0}, {4, time.Second}, {5, 2 * time.Second}, {13, 512 * time.Second},
		{14, maxLockout}, {38, maxLockout}, {64, maxLockout}, {1 << 20, maxLockout},
	}
	for _, tt := range tests {
		if got := lockout(tt.n); got != tt.want {
			t.Errorf("lockout(%d) = %s, want %s", tt.n, got, tt.want)
		}
	}
}
