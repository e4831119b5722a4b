package sqldb

import (
	"time"

	"baocun"
)

// timeLayout is how every timestamp is stored: UTC, fixed width, so text order is
// time order on both SQLite and PostgreSQL and a raw row is readable.
const timeLayout = baocun.TimeLayout

// FormatTime renders t in the stored form.
func FormatTime(t time.Time) string { return t.UTC().Format(timeLayout) }

// ParseTime reads the stored form; "" is the zero time.
func ParseTime(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	return time.Parse(timeLayout, s)
}
