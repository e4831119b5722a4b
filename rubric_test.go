package baocun_test

import (
	"encoding/json"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/shopspring/decimal"

	"baocun"
)

func dec(s string) decimal.Decimal { return decimal.RequireFromString(s) }

// twoGoods is a small rubric: A weighs 60 (indicators a1 of 40 points, a2 of 60),
// B weighs 40 (b1 of 10 points).
func twoGoods() baocun.Rubric {
	return baocun.Rubric{
		Goods: []baocun.Good{
			{Code: "A", Weight: dec("60"), Indicators: []baocun.Indicator{{Code: "a1", Points: dec("40")}, {Code: "a2", Points: dec("60")}}},
			{Code: "B", Weight: dec("40"), Indicators: []baocun.Indicator{{Code: "b1", Points: dec("10")}}},
		},
		MinRaters: 3, TrimFrom: 5,
		Thresholds: baocun.Thresholds{Excellent: dec("90"), Good: dec("80"), Pass: dec("60")},
	}
}

func sheet(a1, a2, b1 string) baocun.Scores {
	return baocun.Scores{"A.a1": dec(a1), "A.a2": dec(a2), "B.b1": dec(b1)}
}

func TestDefaultRubricIsValid(t *testing.T) {
	r := baocun.DefaultRubric()
	if err := r.Validate(); err != nil {
		t.Fatal(err)
	}
	if len(r.Goods) != 5 {
		t.Fatalf("%d goods, want the Five Goods", len(r.Goods))
	}
	// It survives the JSON it is frozen in at launch, exactly.
	b, _ := json.Marshal(r)
	var back baocun.Rubric
	if err := json.Unmarshal(b, &back); err != nil || back.Validate() != nil || !back.Goods[3].Weight.Equal(r.Goods[3].Weight) {
		t.Fatalf("round trip: %v %s", err, b)
	}
}

func TestRubricValidate(t *testing.T) {
	tests := []struct {
		name  string
		edit  func(*baocun.Rubric)
		field string
	}{
		{"weights sum to 99", func(r *baocun.Rubric) { r.Goods[0].Weight = dec("59") }, "rubric.goods"},
		{"a zero weight", func(r *baocun.Rubric) { r.Goods[1].Weight = dec("0") }, "rubric.goods[1].weight"},
		{"an indicator of no points", func(r *baocun.Rubric) { r.Goods[0].Indicators[1].Points = dec("0") }, "rubric.goods[0].indicators[1].points"},
		{"a repeated good", func(r *baocun.Rubric) { r.Goods[1].Code = "A" }, "rubric.goods[1].code"},
		{"thresholds out of order", func(r *baocun.Rubric) { r.Thresholds.Good = dec("95") }, "rubric.thresholds"},
		{"trimming with two raters", func(r *baocun.Rubric) { r.TrimFrom = 2 }, "rubric.trim_from"},
		{"no raters", func(r *baocun.Rubric) { r.MinRaters = 0 }, "rubric.min_raters"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := twoGoods()
			tt.edit(&r)
			err := r.Validate()
			var e *baocun.Error
			if !asError(err, &e) || e.Fields[tt.field] == "" {
				t.Fatalf("error %v, want one naming %s", err, tt.field)
			}
		})
	}
}

func asError(err error, e **baocun.Error) bool {
	x, ok := err.(*baocun.Error)
	*e = x
	return ok
}

func TestCheckScores(t *testing.T) {
	r := twoGoods()
	tests := []struct {
		name  string
		s     baocun.Scores
		field string // "" when valid
	}{
		{"full marks", sheet("40", "60", "10"), ""},
		{"zero", sheet("0", "0", "0"), ""},
		{"two decimals", sheet("39.75", "0.01", "9.99"), ""},
		{"above the points", sheet("40.01", "60", "10"), "scores.A.a1"},
		{"negative", sheet("40", "-1", "10"), "scores.A.a2"},
		{"three decimals", sheet("40", "60", "9.999"), "scores.B.b1"},
		{"missing", baocun.Scores{"A.a1": dec("1"), "A.a2": dec("1")}, "scores.B.b1"},
		{"unknown", baocun.Scores{"A.a1": dec("1"), "A.a2": dec("1"), "B.b1": dec("1"), "C.c1": dec("1")}, "scores.C.c1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := r.CheckScores(tt.s)
			if tt.field == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			var e *baocun.Error
			if !asError(err, &e) || e.Fields[tt.field] == "" {
				t.Fatalf("error %v, want one naming %s", err, tt.field)
			}
		})
	}
}

func TestCombine(t *testing.T) {
	tests := []struct {
		name    string
		sheets  []baocun.Scores
		a, b    string // goods' scores
		total   string
		grade   string
		trimmed bool
	}{
		// A: (40+60)/100 = 100; B: 10/10 = 100 → 100.
		{"full marks", []baocun.Scores{sheet("40", "60", "10"), sheet("40", "60", "10"), sheet("40", "60", "10")}, "100", "100", "100", baocun.GradeExcellent, false},
		// A: a1 mean 30, a2 mean 45 → 75; B: 5/10 → 50; total 0.6·75 + 0.4·50 = 65.
		{"weights", []baocun.Scores{sheet("20", "45", "5"), sheet("30", "45", "5"), sheet("40", "45", "5")}, "75", "50", "65", baocun.GradePass, false},
		// Five raters: each indicator drops its highest and lowest.
		// a1: 0,36,36,36,40 → 36; a2: 54 ×3 of 0,54,54,54,60 → 54; b1: 9 → A 90, B 90, total 90.
		{"trimmed at five", []baocun.Scores{sheet("0", "0", "0"), sheet("36", "54", "9"), sheet("36", "54", "9"), sheet("36", "54", "9"), sheet("40", "60", "10")},
			"90", "90", "90", baocun.GradeExcellent, true},
		// Four raters: no trimming. a1 (0+36·2+40)/4 = 28, a2 (0+54·2+60)/4 = 42 → A 70; b1 7 → 70; total 70.
		{"not trimmed at four", []baocun.Scores{sheet("0", "0", "0"), sheet("36", "54", "9"), sheet("36", "54", "9"), sheet("40", "60", "10")},
			"70", "70", "70", baocun.GradePass, false},
		// a1 mean of 30, 30, 31 = 30.333…; a2 60 → A = 90.333…; B 10 → 100; total 0.6·90.333… + 40 = 94.2 exactly.
		{"repeating decimals", []baocun.Scores{sheet("30", "60", "10"), sheet("30", "60", "10"), sheet("31", "60", "10")}, "90.33", "100", "94.2", baocun.GradeExcellent, false},
		// A: a1 mean 26.67 (80/3), a2 60 → 86.6666…; B 10/10 → total 0.6·86.6666… + 40 = 92 exactly.
		{"rounding only at the end", []baocun.Scores{sheet("26", "60", "10"), sheet("27", "60", "10"), sheet("27", "60", "10")}, "86.67", "100", "92", baocun.GradeExcellent, false},
		// Half away from zero at the second decimal: A = (a1 + 0)/100·100 with a1 mean 89.995 is impossible
		// with two-decimal inputs, so: a1 40, a2 mean 49.99 (49.98, 49.99, 50) → A 89.99; B 9.99 → 99.9; total 93.954 → 93.95.
		{"rounded to two decimals", []baocun.Scores{sheet("40", "49.98", "9.99"), sheet("40", "49.99", "9.99"), sheet("40", "50", "9.99")}, "89.99", "99.9", "93.95", baocun.GradeExcellent, false},
	}
	r := twoGoods()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := r.Combine(tt.sheets, nil)
			if err != nil {
				t.Fatal(err)
			}
			if !res.Goods["A"].Equal(dec(tt.a)) || !res.Goods["B"].Equal(dec(tt.b)) || !res.Total.Equal(dec(tt.total)) || res.Grade != tt.grade || res.Trimmed != tt.trimmed {
				t.Fatalf("A %s B %s total %s grade %s trimmed %v; want %s %s %s %s %v", res.Goods["A"], res.Goods["B"], res.Total, res.Grade, res.Trimmed,
					tt.a, tt.b, tt.total, tt.grade, tt.trimmed)
			}
		})
	}
	if _, err := r.Combine([]baocun.Scores{sheet("1", "1", "1"), sheet("1", "1", "1")}, nil); baocun.ErrorCode(err) != baocun.ECONFLICT {
		t.Fatalf("two raters of three: %v", err)
	}
}

func TestGradeAtItsEdges(t *testing.T) {
	r := baocun.DefaultRubric()
	for total, want := range map[string]string{
		"100": baocun.GradeExcellent, "90": baocun.GradeExcellent, "89.99": baocun.GradeGood, "80": baocun.GradeGood,
		"79.99": baocun.GradePass, "60": baocun.GradePass, "59.99": baocun.GradeFail, "0": baocun.GradeFail,
	} {
		if got := r.Grade(dec(total)); got != want {
			t.Errorf("grade of %s: %s, want %s", total, got, want)
		}
	}
}

func TestRankingTiesAreDeterministic(t *testing.T) {
	r := baocun.DefaultRubric()
	res := func(total, prosperity, feedback string) baocun.Result {
		return baocun.Result{Total: dec(total), Grade: r.Grade(dec(total)), Goods: map[string]decimal.Decimal{"prosperity": dec(prosperity), "feedback": dec(feedback)}}
	}
	ps := []baocun.Ranked{
		{PairingID: 1, Department: "D1", Result: res("88", "90", "80")},
		{PairingID: 2, Department: "D2", Result: res("91", "90", "90")},
		{PairingID: 3, Department: "D3", Result: res("88", "95", "70")}, // same total as 1, better prosperity
		{PairingID: 4, Department: "D1", Result: res("88", "90", "85")}, // same total and prosperity as 1, better feedback
		{PairingID: 5, Department: "D4", Result: res("88", "90", "80")}, // identical to 1: the lower id first
		{PairingID: 6, Department: "D4", Result: res("55", "50", "50")},
	}
	got := r.RankPairings(ps)
	var order []int64
	for i, p := range got {
		order = append(order, p.PairingID)
		if p.Rank != i+1 {
			t.Fatalf("rank %d at %d", p.Rank, i)
		}
	}
	if fmt.Sprint(order) != "[2 3 4 1 5 6]" {
		t.Fatalf("order %v", order)
	}
	// Reversed input, the same ranking.
	rev := make([]baocun.Ranked, len(ps))
	for i := range ps {
		rev[i] = ps[len(ps)-1-i]
	}
	for i, p := range r.RankPairings(rev) {
		if p.PairingID != order[i] {
			t.Fatalf("reversed input ranks %d at %d", p.PairingID, i)
		}
	}

	// Departments by mean: D2 91; D3 88; D1 (88+88)/2 = 88 with no excellent; D4 (88+55)/2 = 71.5.
	// D3 and D1 tie at 88 with no excellent and no fail: the code decides (D1 first).
	deps := r.RankDepartments(got, dec("0.5"))
	var dorder []string
	for _, d := range deps {
		dorder = append(dorder, fmt.Sprintf("%s:%s:%v", d.Department, d.Mean, d.Advanced))
	}
	// Top half (2 of 4): D2 is excellent → advanced; D1 (88) is not excellent → not.
	if fmt.Sprint(dorder) != "[D2:91:true D1:88:false D3:88:false D4:71.5:false]" {
		t.Fatalf("departments %v", dorder)
	}
}

// Raising any one score of any one rater never lowers a pairing's total (nor any
// good's score), with or without trimming: checked on random sheets.
func TestRaisingAScoreNeverLowersTheTotal(t *testing.T) {
	r := baocun.DefaultRubric()
	points := map[string]int64{}
	for k, p := range r.Rated() {
		points[k] = p.IntPart() * 100 // in hundredths
	}
	keys := slices.Sorted(maps.Keys(points))
	rng := rand.New(rand.NewPCG(1, 2))
	random := func() baocun.Scores {
		s := baocun.Scores{}
		for _, k := range keys {
			s[k] = decimal.New(rng.Int64N(points[k]+1), -2)
		}
		return s
	}
	for trial := range 2000 {
		n := 3 + rng.IntN(5) // 3–7 raters: trimmed from 5
		sheets := make([]baocun.Scores, n)
		for i := range sheets {
			sheets[i] = random()
		}
		inputs := randomInputs(rng)
		before, err := r.Combine(sheets, inputs)
		if err != nil {
			t.Fatal(err)
		}
		i, k := rng.IntN(n), keys[rng.IntN(len(keys))]
		room := points[k] - sheets[i][k].Shift(2).IntPart()
		if room == 0 {
			continue
		}
		raised := make([]baocun.Scores, n)
		copy(raised, sheets)
		raised[i] = baocun.Scores{}
		for kk, v := range sheets[i] {
			raised[i][kk] = v
		}
		raised[i][k] = sheets[i][k].Add(decimal.New(1+rng.Int64N(room), -2))
		after, err := r.Combine(raised, inputs)
		if err != nil {
			t.Fatal(err)
		}
		if after.Total.LessThan(before.Total) {
			t.Fatalf("trial %d: raising %s of rater %d lowered the total %s → %s", trial, k, i, before.Total, after.Total)
		}
		for g, v := range before.Goods {
			if after.Goods[g].LessThan(v) {
				t.Fatalf("trial %d: raising %s lowered good %s %s → %s", trial, k, g, v, after.Goods[g])
			}
		}
	}
}

// randomInputs are objective inputs around the default formulas' ranges, some absent.
func randomInputs(rng *rand.Rand) baocun.Inputs {
	in := baocun.Inputs{}
	for _, k := range baocun.ObjectiveInputs {
		if rng.IntN(4) > 0 {
			in[k] = decimal.New(rng.Int64N(12000), -2)
		}
	}
	return in
}

// Raising any one objective input never lowers a total either (every default formula
// rises with its input).
func TestRaisingAnInputNeverLowersTheTotal(t *testing.T) {
	r := baocun.DefaultRubric()
	rng := rand.New(rand.NewPCG(3, 4))
	sheets := make([]baocun.Scores, 3)
	for i := range sheets {
		sheets[i] = fullSheet(r, "0.5")
	}
	for trial := range 1000 {
		in := randomInputs(rng)
		before, err := r.Combine(sheets, in)
		if err != nil {
			t.Fatal(err)
		}
		k := baocun.ObjectiveInputs[rng.IntN(len(baocun.ObjectiveInputs))]
		raised := baocun.Inputs{}
		for kk, v := range in {
			raised[kk] = v
		}
		raised[k] = in[k].Add(decimal.New(1+rng.Int64N(2000), -2))
		after, _ := r.Combine(sheets, raised)
		if after.Total.LessThan(before.Total) {
			t.Fatalf("trial %d: raising %s %s → %s lowered the total %s → %s", trial, k, in[k], raised[k], before.Total, after.Total)
		}
	}
}

// fullSheet scores every rated indicator of r at share of its points.
func fullSheet(r baocun.Rubric, share string) baocun.Scores {
	s := baocun.Scores{}
	for k, p := range r.Rated() {
		s[k] = p.Mul(dec(share)).Round(2)
	}
	return s
}

func TestFormula(t *testing.T) {
	// A: a1 rated (40 points), a2 from satisfaction (60 points, none at 60%, full at 90%).
	// B: b1 from projects, where fewer is better only to test a falling formula: full at 0, none at 10.
	r := twoGoods()
	r.Goods[0].Indicators[1].Formula = &baocun.Formula{Input: baocun.InputVillagerSatisfaction, Zero: dec("60"), Full: dec("90")}
	r.Goods[1].Indicators[0].Formula = &baocun.Formula{Input: baocun.InputProjects, Zero: dec("10"), Full: dec("0")}
	if err := r.Validate(); err != nil {
		t.Fatal(err)
	}
	rated := baocun.Scores{"A.a1": dec("40")}
	sheets := []baocun.Scores{rated, rated, rated}
	tests := []struct {
		name     string
		in       baocun.Inputs
		a2, b1   string // computed points
		a, total string
	}{
		// a2 (75−60)/30 = ½ of 60 = 30 → A (40+30) = 70; b1 (10−4)/10 of 10 = 6 → B 60; total 0.6·70 + 0.4·60 = 66.
		{"between", baocun.Inputs{baocun.InputVillagerSatisfaction: dec("75"), baocun.InputProjects: dec("4")}, "30", "6", "70", "66"},
		// Below zero and beyond full are clamped.
		{"clamped", baocun.Inputs{baocun.InputVillagerSatisfaction: dec("40"), baocun.InputProjects: dec("-3")}, "0", "10", "40", "64"},
		{"at the edges", baocun.Inputs{baocun.InputVillagerSatisfaction: dec("90"), baocun.InputProjects: dec("10")}, "60", "0", "100", "60"},
		// Not gathered yet: no points.
		{"absent", baocun.Inputs{}, "0", "0", "40", "24"},
		// A third of the way: 60 · 1/3 = 20 exactly, not 19.99…
		{"thirds", baocun.Inputs{baocun.InputVillagerSatisfaction: dec("70"), baocun.InputProjects: dec("10")}, "20", "0", "60", "36"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := r.Combine(sheets, tt.in)
			if err != nil {
				t.Fatal(err)
			}
			if !res.Computed["A.a2"].Equal(dec(tt.a2)) || !res.Computed["B.b1"].Equal(dec(tt.b1)) || !res.Goods["A"].Equal(dec(tt.a)) || !res.Total.Equal(dec(tt.total)) {
				t.Fatalf("a2 %s b1 %s A %s total %s; want %s %s %s %s", res.Computed["A.a2"], res.Computed["B.b1"], res.Goods["A"], res.Total, tt.a2, tt.b1, tt.a, tt.total)
			}
		})
	}
	// Raters score only what the records do not.
	var e *baocun.Error
	if err := r.CheckScores(baocun.Scores{"A.a1": dec("1"), "A.a2": dec("1")}); !asError(err, &e) || e.Fields["scores.A.a2"] == "" {
		t.Fatalf("scoring a computed indicator: %v", err)
	}
	if err := r.CheckScores(rated); err != nil {
		t.Fatal(err)
	}
	for name, f := range map[string]*baocun.Formula{
		"rubric.goods[0].indicators[1].formula.input": {Input: "rainfall", Zero: dec("0"), Full: dec("1")},
		"rubric.goods[0].indicators[1].formula.full":  {Input: baocun.InputProjects, Zero: dec("3"), Full: dec("3")},
	} {
		bad := twoGoods()
		bad.Goods[0].Indicators[1].Formula = f
		if err := bad.Validate(); !asError(err, &e) || e.Fields[name] == "" {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func TestRevise(t *testing.T) {
	r := twoGoods()
	res, err := r.Combine([]baocun.Scores{sheet("20", "45", "5"), sheet("30", "45", "5"), sheet("40", "45", "5")}, nil) // A 75, B 50, total 65
	if err != nil {
		t.Fatal(err)
	}
	// B raised to 87.5: 0.6·75 + 0.4·87.5 = 80 → good, at the threshold's edge.
	got, err := r.Revise(res, map[string]decimal.Decimal{"B": dec("87.5")})
	if err != nil {
		t.Fatal(err)
	}
	if !got.Total.Equal(dec("80")) || got.Grade != baocun.GradeGood || !got.Goods["A"].Equal(dec("75")) || !res.Goods["B"].Equal(dec("50")) {
		t.Fatalf("revised %s %s (A %s), original B %s", got.Total, got.Grade, got.Goods["A"], res.Goods["B"])
	}
	var e *baocun.Error
	for field, goods := range map[string]map[string]decimal.Decimal{
		"goods":   {},
		"goods.C": {"C": dec("1")},
		"goods.A": {"A": dec("100.01")},
		"goods.B": {"B": dec("9.999")},
	} {
		if _, err := r.Revise(res, goods); !asError(err, &e) || e.Fields[field] == "" {
			t.Errorf("%s: %v", field, err)
		}
	}
}

// A revision weighs the goods it leaves at their exact scores: revising a good to
// the score it has changes no total, whatever the others' rounding.
func TestReviseKeepsOtherGoodsExact(t *testing.T) {
	r := twoGoods()
	rng := rand.New(rand.NewPCG(5, 6))
	for trial := range 2000 {
		b1 := decimal.NewFromInt(rng.Int64N(11)) // the same for every rater: B is a whole number
		sheets := make([]baocun.Scores, 3)
		for i := range sheets {
			sheets[i] = baocun.Scores{"A.a1": decimal.New(rng.Int64N(4001), -2), "A.a2": decimal.New(rng.Int64N(6001), -2), "B.b1": b1}
		}
		res, err := r.Combine(sheets, nil)
		if err != nil {
			t.Fatal(err)
		}
		got, err := r.Revise(res, map[string]decimal.Decimal{"B": res.Goods["B"]})
		if err != nil {
			t.Fatal(err)
		}
		if !got.Total.Equal(res.Total) || got.Grade != res.Grade {
			t.Fatalf("trial %d: revising B to its own %s moved the total %s → %s (A exact %s)", trial, res.Goods["B"], res.Total, got.Total, res.Exact["A"])
		}
	}
	// Two decimals however written.
	if _, err := r.Revise(baocun.Result{Goods: map[string]decimal.Decimal{"A": dec("1"), "B": dec("1")}}, map[string]decimal.Decimal{"A": dec("88.690")}); err != nil {
		t.Errorf("88.690: %v", err)
	}
}

// A department's mean grades and ranks exact: 89.995 shows as 90.00 but is not
// excellent, so the department is not advanced.
func TestDepartmentMeanIsExact(t *testing.T) {
	r := baocun.DefaultRubric()
	res := func(total string) baocun.Result { return baocun.Result{Total: dec(total), Grade: r.Grade(dec(total))} }
	deps := r.RankDepartments([]baocun.Ranked{
		{PairingID: 1, Department: "D1", Result: res("89.99")}, {PairingID: 2, Department: "D1", Result: res("90")},
		{PairingID: 3, Department: "D2", Result: res("90")},
	}, dec("1"))
	if deps[0].Department != "D2" || !deps[1].Mean.Equal(dec("90")) || deps[1].Advanced || !deps[0].Advanced {
		t.Fatalf("departments %+v", deps)
	}
}
