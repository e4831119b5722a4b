package baocun_test

import (
	"testing"
	"time"

	"baocun"
)

func TestClock(t *testing.T) {
	start := time.Date(2027, 1, 1, 0, 0, 0, 0, baocun.ChinaTime)
	launch := time.Date(2026, 11, 28, 10, 0, 0, 0, time.UTC)
	threeYears := start.AddDate(3, 0, 0).Sub(start)
	demoScale := float64(threeYears / (100 * time.Second)) // three years in 100 s

	tests := []struct {
		name  string
		scale float64
		real  time.Duration // after launch
		want  time.Duration // programme time after start
	}{
		{"production: programme time is real time", 1, 90 * time.Minute, 90 * time.Minute},
		{"demo: 100 s is three years", demoScale, 100 * time.Second, threeYears},
		{"demo: half way", demoScale, 50 * time.Second, threeYears / 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := baocun.Clock{Start: start, Launch: launch, Scale: tt.scale}
			if err := c.Validate(); err != nil {
				t.Fatal(err)
			}
			got := c.Now(launch.Add(tt.real)).Sub(start)
			if diff := got - tt.want; diff < -time.Second || diff > time.Second {
				t.Fatalf("Now = start + %s, want start + %s", got, tt.want)
			}
			// Real and Now are inverse, and Real never comes early.
			p := start.Add(tt.want)
			r := c.Real(p)
			if back := c.Now(r); back.Before(p) {
				t.Fatalf("Now(Real(p)) = %s is before p = %s: a deadline would fire early", back, p)
			}
			if c.Wait(90*24*time.Hour) <= 0 {
				t.Fatal("a 90-day wait takes no time")
			}
		})
	}
	if c := (baocun.Clock{Start: start, Launch: launch, Scale: 1}); !c.Real(start.Add(-time.Hour)).Equal(launch) {
		t.Fatal("programme time before the start arrives at the launch, never earlier")
	}
	for _, bad := range []float64{0, 0.5, 2e8} {
		if err := (baocun.Clock{Scale: bad}).Validate(); baocun.ErrorCode(err) != baocun.EINVALID {
			t.Errorf("scale %g: err = %v", bad, err)
		}
	}
}

func TestPeriods(t *testing.T) {
	start := time.Date(2027, 1, 1, 0, 0, 0, 0, baocun.ChinaTime)
	ps, err := baocun.Periods(start, 3, 3)
	if err != nil {
		t.Fatal(err)
	}
	if len(ps) != 12 || !ps[0].Start.Equal(start) || !ps[11].End.Equal(start.AddDate(3, 0, 0)) {
		t.Fatalf("quarterly over three years: %d periods, %v … %v", len(ps), ps[0], ps[len(ps)-1])
	}
	for i := 1; i < len(ps); i++ {
		if !ps[i].Start.Equal(ps[i-1].End) || ps[i].Index != i+1 {
			t.Fatalf("periods %d and %d are not contiguous", i, i+1)
		}
	}
	if ps[1].Start != time.Date(2027, 4, 1, 0, 0, 0, 0, baocun.ChinaTime) {
		t.Fatalf("second quarter starts %v", ps[1].Start)
	}

	endOfMonth := time.Date(2027, 1, 31, 0, 0, 0, 0, baocun.ChinaTime)
	ms, _ := baocun.Periods(endOfMonth, 1, 1)
	want := []string{"2027-01-31", "2027-02-28", "2027-03-31", "2027-04-30"}
	for i, w := range want {
		if got := ms[i].Start.Format("2006-01-02"); got != w {
			t.Errorf("monthly from Jan 31: period %d starts %s, want %s", i+1, got, w)
		}
	}

	for _, bad := range []struct{ years, months int }{{0, 3}, {11, 3}, {3, 5}, {3, 0}, {3, 24}} {
		if _, err := baocun.Periods(start, bad.years, bad.months); baocun.ErrorCode(err) != baocun.EINVALID {
			t.Errorf("years %d months %d: err = %v", bad.years, bad.months, err)
		}
	}
}
