package baocun

import (
	"fmt"
	"math"
	"time"
)

// ChinaTime is the zone programme dates are read in: a cycle that starts on
// 2027-01-01 starts at midnight in Beijing, not in UTC.
var ChinaTime = time.FixedZone("CST", 8*60*60)

// Clock is a cycle's programme clock: the one source of programme time for every due
// date, period and window of the cycle. In production Scale is 1 and programme time
// is real time shifted to the cycle's start; a demonstration runs three years in
// about a minute with a large Scale. Its methods are pure functions of their
// arguments, so workflows may use them with workflow.Now.
type Clock struct {
	Start  time.Time `json:"start"`  // programme time at launch: the cycle's start
	Launch time.Time `json:"launch"` // real time of the launch
	Scale  float64   `json:"scale"`  // programme seconds per real second
}

// MaxClockScale bounds a demonstration's speed-up (three years in about a second).
const MaxClockScale = 1e8

// Validate reports a clock that cannot run.
func (c Clock) Validate() error {
	if c.Scale < 1 || c.Scale > MaxClockScale || math.IsNaN(c.Scale) {
		return &Error{Code: EINVALID, Message: fmt.Sprintf("时钟倍率须在 1 到 %g 之间 clock_scale must be 1 to %g", MaxClockScale, MaxClockScale),
			Fields: map[string]string{"clock_scale": "out of range"}}
	}
	return nil
}

// Now is the programme time at real time t.
func (c Clock) Now(t time.Time) time.Time {
	return c.Start.Add(scaleDuration(t.Sub(c.Launch), c.Scale))
}

// Real is the real time at which programme time p arrives; never before the launch.
func (c Clock) Real(p time.Time) time.Time {
	if !p.After(c.Start) {
		return c.Launch
	}
	return c.Launch.Add(c.Wait(p.Sub(c.Start)))
}

// Wait is the real time a programme duration takes, rounded up so a deadline never
// fires early.
func (c Clock) Wait(d time.Duration) time.Duration {
	if d <= 0 {
		return 0
	}
	return time.Duration(math.Ceil(float64(d) / c.Scale))
}

func scaleDuration(d time.Duration, scale float64) time.Duration {
	v := float64(d) * scale
	if v > math.MaxInt64 {
		return math.MaxInt64
	}
	return time.Duration(v)
}

// Period is one reporting period of a cycle, [Start, End) in programme time.
type Period struct {
	Index int       `json:"index"` // 1-based
	Start time.Time `json:"start"`
	End   time.Time `json:"end"`
}

// Periods divides a cycle of years into periods of periodMonths calendar months from
// start. A start late in a month keeps its day where the month has it and the month's
// last day where it does not (Jan 31 → Feb 28 → Mar 31), never spilling into the next.
func Periods(start time.Time, years, periodMonths int) ([]Period, error) {
	if years < 1 || years > 10 {
		return nil, &Error{Code: EINVALID, Message: "周期年数须在 1–10 之间 years must be 1–10", Fields: map[string]string{"years": "out of range"}}
	}
	if periodMonths < 1 || 12%periodMonths != 0 {
		return nil, &Error{Code: EINVALID, Message: "汇报周期须为 1、2、3、4、6 或 12 个月 period_months must be 1, 2, 3, 4, 6 or 12",
			Fields: map[string]string{"period_months": "invalid"}}
	}
	n := years * 12 / periodMonths
	out := make([]Period, n)
	for i := range n {
		out[i] = Period{Index: i + 1, Start: AddMonths(start, i*periodMonths), End: AddMonths(start, (i+1)*periodMonths)}
	}
	return out, nil
}

// addMonths adds calendar months, clamping the day to the target month's length.
func AddMonths(t time.Time, months int) time.Time {
	y, m, d := t.Date()
	first := time.Date(y, m+time.Month(months), 1, t.Hour(), t.Minute(), t.Second(), t.Nanosecond(), t.Location())
	last := first.AddDate(0, 1, -1).Day()
	return first.AddDate(0, 0, min(d, last)-1)
}
