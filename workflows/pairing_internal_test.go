package workflows

import (
	"testing"
	"time"

	"baocun"
)

// Every year of a cycle ends at a period's end, and is found there, however the
// periods clamp the start's day: a cycle from 29 February opens its yearly
// evaluations on 28 February of the years without one.
func TestYearEndedAtThePeriodsEnds(t *testing.T) {
	for _, start := range []string{"2027-01-01", "2028-02-29", "2027-08-31"} {
		s, err := time.ParseInLocation(time.DateOnly, start, baocun.ChinaTime)
		if err != nil {
			t.Fatal(err)
		}
		for _, months := range []int{3, 12} {
			ps, err := baocun.Periods(s, 3, months)
			if err != nil {
				t.Fatal(err)
			}
			var years []int
			for _, p := range ps {
				if y := yearEnded(s, p.End); y > 0 {
					years = append(years, y)
				}
			}
			if len(years) != 3 || years[0] != 1 || years[1] != 2 || years[2] != 3 {
				t.Errorf("from %s, %d-month periods: years ended %v, want [1 2 3]", start, months, years)
			}
		}
	}
}
