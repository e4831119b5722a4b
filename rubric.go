package baocun

import (
	"fmt"
	"maps"
	"slices"
	"sort"

	"github.com/shopspring/decimal"
)

// The acceptance rubric (检查验收) and its arithmetic: the Five Goods (五个好) as a
// weighted indicator tree, raters' scores combined by a trimmed mean, a weighted
// total and a grade. Every number is an exact decimal (github.com/shopspring/decimal):
// a published score never carries float drift.

// Grades, best first.
const (
	GradeExcellent = "excellent" // 优秀
	GradeGood      = "good"      // 良好
	GradePass      = "pass"      // 合格
	GradeFail      = "fail"      // 不合格
)

// GradeNames are the grades' names for people.
var GradeNames = map[string]string{GradeExcellent: "优秀 excellent", GradeGood: "良好 good", GradePass: "合格 pass", GradeFail: "不合格 fail"}

// Indicator is a second-level indicator of one good: a rater gives it 0 to Points,
// unless it has a Formula, which computes it from the pairing's records instead.
type Indicator struct {
	Code     string          `json:"code"`
	Name     string          `json:"name"`
	Points   decimal.Decimal `json:"points"`
	Evidence string          `json:"evidence"` // what the rater looks at
	Formula  *Formula        `json:"formula,omitempty"`
}

// Formula folds one objective input into an indicator, linearly: a value at or
// below Zero earns no points, at or above Full every point, and between them its
// share of the way (Full may be below Zero, for an input where less is better). A
// pairing without the input yet (no evaluation round, no approved report) earns
// no points for it.
type Formula struct {
	Input string          `json:"input"` // one of ObjectiveInputs
	Zero  decimal.Decimal `json:"zero"`
	Full  decimal.Decimal `json:"full"`
}

// Objective inputs a Formula may name: see Objective for what each means.
const (
	InputResidencyCompliance    = "residency_compliance"    // percent of member-months meeting the rule
	InputFundsRaisedWan         = "funds_raised_wan"        // 万元
	InputProjects               = "projects_total"          // projects completed
	InputIncomeGrowthWan        = "income_growth_wan"       // collective income growth, 万元
	InputVillagerSatisfaction   = "villager_satisfaction"   // percent
	InputGrassrootsSatisfaction = "grassroots_satisfaction" // percent
	InputSpotCheckAbsences      = "spot_check_absences"     // unexcused absences spot checks found: fewer is better
)

// ObjectiveInputs are the inputs a Formula may name.
var ObjectiveInputs = []string{InputResidencyCompliance, InputFundsRaisedWan, InputProjects, InputIncomeGrowthWan,
	InputVillagerSatisfaction, InputGrassrootsSatisfaction, InputSpotCheckAbsences}

// Inputs are a pairing's objective inputs by name; one it does not have yet is absent.
type Inputs map[string]decimal.Decimal

// points is what the formula gives an indicator worth max for the inputs, exact to
// the arithmetic's scale.
func (f *Formula) points(max decimal.Decimal, in Inputs) decimal.Decimal {
	v, ok := in[f.Input]
	if !ok {
		return decimal.Zero
	}
	p := max.Mul(v.Sub(f.Zero)).DivRound(f.Full.Sub(f.Zero), scale)
	switch {
	case p.IsNegative():
		return decimal.Zero
	case p.GreaterThan(max):
		return max
	}
	return p
}

// Good is one of the Five Goods: its weight in the total (the weights sum to 100)
// and its indicators.
type Good struct {
	Code       string          `json:"code"`
	Name       string          `json:"name"`
	Weight     decimal.Decimal `json:"weight"`
	Indicators []Indicator     `json:"indicators"`
}

// Thresholds are the lowest totals of each grade above fail.
type Thresholds struct {
	Excellent decimal.Decimal `json:"excellent"`
	Good      decimal.Decimal `json:"good"`
	Pass      decimal.Decimal `json:"pass"`
}

// Rubric is how a cycle's acceptance is scored, frozen when the cycle launches.
type Rubric struct {
	Goods []Good `json:"goods"`
	// MinRaters is how many raters, none of the pairing's department, must score.
	MinRaters int `json:"min_raters"`
	// TrimFrom: with at least this many raters, each indicator's highest and lowest
	// score are dropped before the mean (0: never trim).
	TrimFrom   int        `json:"trim_from"`
	Thresholds Thresholds `json:"thresholds"`
	// AdvancedShare is the share (0–1] of ranked departments, rounded up, that may
	// be named advanced (先进单位) when their mean grades excellent and no pairing fails.
	AdvancedShare decimal.Decimal `json:"advanced_share"`
}

func d(s string) decimal.Decimal { return decimal.RequireFromString(s) }

// DefaultRubric is the Five Goods as the seed states them — the leadership team is
// the key, the cadre team the base, the working mechanism the guarantee, the
// prosperity results the centre, the villagers' feedback the root — with the centre
// weighted most. Each good's indicators sum to 100 points. The records decide four
// of them by formula: collective income growth (full at 10 万元), projects completed
// (full at 12, one a period), and the villagers' and grass-roots satisfaction rates
// (none at 60%, full at 95%).
func DefaultRubric() Rubric {
	ind := func(code, name, points, evidence string) Indicator {
		return Indicator{Code: code, Name: name, Points: d(points), Evidence: evidence}
	}
	formula := func(in Indicator, input, zero, full string) Indicator {
		in.Formula = &Formula{Input: input, Zero: d(zero), Full: d(full)}
		return in
	}
	return Rubric{
		Goods: []Good{
			{Code: "leadership", Name: "领导班子好 leadership team", Weight: d("20"), Indicators: []Indicator{
				ind("policy", "贯彻方针政策 carries out policy", "40", "村两委会议记录、上级考核 committee minutes, county reviews"),
				ind("integrity", "廉洁勤政、奋发有为 clean and diligent", "30", "村务公开、信访记录 open village affairs, petitions"),
				ind("secretary", "书记带头致富能力 the secretary leads in prosperity", "30", "书记领办项目 projects the secretary leads"),
			}},
			{Code: "cadres", Name: "党员干部队伍好 cadre team", Weight: d("15"), Indicators: []Indicator{
				ind("pioneer", "党员先锋模范作用 party members set the example", "50", "党员承诺践诺、设岗定责 pledges and posts"),
				ind("backbone", "基层干部骨干带头 village cadres lead", "50", "干部分工与实绩 duties and results"),
			}},
			{Code: "mechanism", Name: "工作机制好 working mechanism", Weight: d("15"), Indicators: []Indicator{
				ind("rules", "制度完善 rules complete", "40", "制度汇编 the rule book"),
				ind("coordination", "两委关系协调 the two committees work together", "30", "联席会议记录 joint meeting minutes"),
				ind("service", "服务优质高效 good, quick service", "30", "代办服务台账 the service ledger"),
			}},
			{Code: "prosperity", Name: "小康建设业绩好 prosperity results", Weight: d("35"), Indicators: []Indicator{
				ind("economy", "经济持续发展 the economy grows", "25", "定期汇报 the periodic reports"),
				formula(ind("collective", "集体收入增长（万元） collective income growth (10k yuan)", "15", "已通过汇报的集体收入 approved reports' collective income"),
					InputIncomeGrowthWan, "0", "10"),
				ind("income", "农民收入增加 farmers' income rises", "30", "统计年报 statistics"),
				formula(ind("public", "社会事业进步（路水电学医，完成项目数） roads, water, power, schools, clinics: projects completed", "30", "已通过汇报的完成项目 approved reports' projects"),
					InputProjects, "0", "12"),
			}},
			{Code: "feedback", Name: "农民群众反映好 villagers' feedback", Weight: d("15"), Indicators: []Indicator{
				ind("wishes", "措施符合群众意愿 measures the villagers want", "30", "村民代表会议 villagers' assemblies"),
				formula(ind("satisfaction", "实绩群众满意（村民满意率%） villagers satisfied (%)", "25", "年度双评村民满意率 the yearly evaluations"),
					InputVillagerSatisfaction, "60", "95"),
				formula(ind("grassroots", "基层评议满意（%） grass-roots satisfied (%)", "15", "年度双评基层满意率 the yearly evaluations"),
					InputGrassrootsSatisfaction, "60", "95"),
				ind("support", "党组织得到群众拥护 the party branch supported", "30", "民主测评 democratic appraisal"),
			}},
		},
		MinRaters:     3,
		TrimFrom:      5,
		Thresholds:    Thresholds{Excellent: d("90"), Good: d("80"), Pass: d("60")},
		AdvancedShare: DefaultAdvancedShare,
	}
}

// Validate checks a rubric: weights sum to 100, every indicator has positive points,
// codes are unique, thresholds descend within 0–100.
func (r *Rubric) Validate() error {
	bad := func(field, format string, args ...any) error {
		return invalidField(field, fmt.Sprintf(format, args...))
	}
	if len(r.Goods) == 0 {
		return bad("rubric.goods", "至少一项 at least one good")
	}
	sum := decimal.Zero
	seen := map[string]bool{}
	for i, g := range r.Goods {
		field := fmt.Sprintf("rubric.goods[%d]", i)
		if g.Code == "" || seen[g.Code] {
			return bad(field+".code", "须唯一且非空 must be unique and non-empty")
		}
		seen[g.Code] = true
		if !g.Weight.IsPositive() {
			return bad(field+".weight", "须为正数 must be positive")
		}
		sum = sum.Add(g.Weight)
		if len(g.Indicators) == 0 {
			return bad(field+".indicators", "至少一项 at least one indicator")
		}
		for j, in := range g.Indicators {
			f := fmt.Sprintf("%s.indicators[%d]", field, j)
			if in.Code == "" || seen[g.Code+"."+in.Code] {
				return bad(f+".code", "须唯一且非空 must be unique and non-empty")
			}
			seen[g.Code+"."+in.Code] = true
			if !in.Points.IsPositive() {
				return bad(f+".points", "须为正数 must be positive")
			}
			if fm := in.Formula; fm != nil {
				if !slices.Contains(ObjectiveInputs, fm.Input) {
					return bad(f+".formula.input", "须为 %v 之一 must be one of %v", ObjectiveInputs, ObjectiveInputs)
				}
				if fm.Zero.Equal(fm.Full) {
					return bad(f+".formula.full", "不能等于 zero must differ from zero")
				}
			}
		}
	}
	if !sum.Equal(d("100")) {
		return bad("rubric.goods", "权重之和须为 100 the weights must sum to 100, not %s", sum)
	}
	if r.MinRaters < 1 || r.MinRaters > 50 {
		return bad("rubric.min_raters", "须在 1–50 之间 must be 1–50")
	}
	if r.TrimFrom != 0 && (r.TrimFrom < 3 || r.TrimFrom > 50) {
		return bad("rubric.trim_from", "须为 0（不去极值）或 3–50 must be 0 (never trim) or 3–50")
	}
	if r.AdvancedShare.IsNegative() || r.AdvancedShare.GreaterThan(d("1")) {
		return bad("rubric.advanced_share", "须在 0–1 之间（0 取默认 0.2） must be 0 to 1 (0 means the default 0.2)")
	}
	t := r.Thresholds
	if !(t.Excellent.GreaterThan(t.Good) && t.Good.GreaterThan(t.Pass) && t.Pass.IsPositive() && t.Excellent.LessThanOrEqual(d("100"))) {
		return bad("rubric.thresholds", "须满足 100 ≥ 优秀 > 良好 > 合格 > 0 need 100 ≥ excellent > good > pass > 0")
	}
	return nil
}

// Scores are one rater's scores: indicator "good.indicator" → points given.
type Scores map[string]decimal.Decimal

// CheckScores reports a score sheet that misses an indicator, names an unknown one,
// scores one the records compute (a Formula's), or gives a score out of 0..points.
func (r *Rubric) CheckScores(s Scores) error {
	n := 0
	for _, g := range r.Goods {
		for _, in := range g.Indicators {
			key := g.Code + "." + in.Code
			v, ok := s[key]
			if in.Formula != nil {
				if ok {
					return invalidField("scores."+key, "由客观数据计算，不评分 computed from the records, not scored")
				}
				continue
			}
			if !ok {
				return invalidField("scores."+key, "缺少评分 missing")
			}
			if v.IsNegative() || v.GreaterThan(in.Points) || !v.Equal(v.Round(2)) {
				return invalidField("scores."+key, fmt.Sprintf("须在 0–%s 之间、至多两位小数 must be 0 to %s with at most two decimals, not %s", in.Points, in.Points, v))
			}
			n++
		}
	}
	if len(s) != n {
		for k := range s {
			if !r.hasIndicator(k) {
				return invalidField("scores."+k, "没有这个指标 no such indicator")
			}
		}
	}
	return nil
}

// Rated are the indicators raters score (those without a Formula): key → points.
func (r *Rubric) Rated() map[string]decimal.Decimal {
	out := map[string]decimal.Decimal{}
	for _, g := range r.Goods {
		for _, in := range g.Indicators {
			if in.Formula == nil {
				out[g.Code+"."+in.Code] = in.Points
			}
		}
	}
	return out
}

// CheckEvidence checks that a self-assessment's evidence names indicators of the
// rubric only.
func (r *Rubric) CheckEvidence(ev map[string][]string) error {
	for _, k := range slices.Sorted(maps.Keys(ev)) {
		if !r.hasIndicator(k) {
			return invalidField("evidence."+k, "没有这个指标 no such indicator")
		}
	}
	return nil
}

func (r *Rubric) hasIndicator(key string) bool {
	for _, g := range r.Goods {
		for _, in := range g.Indicators {
			if g.Code+"."+in.Code == key {
				return true
			}
		}
	}
	return false
}

// Result is a pairing's combined score: each good's score (0–100), the weighted
// total rounded to two decimals (half away from zero), and its grade.
type Result struct {
	Goods map[string]decimal.Decimal `json:"goods"`
	Total decimal.Decimal            `json:"total"`
	Grade string                     `json:"grade"`
	// Raters is how many score sheets were combined; Trimmed whether each
	// indicator's highest and lowest were dropped.
	Raters  int  `json:"raters"`
	Trimmed bool `json:"trimmed"`
	// Computed are the points the records gave each Formula indicator.
	Computed map[string]decimal.Decimal `json:"computed,omitempty"`
	// Exact are the goods' scores before the published rounding: a revision weighs
	// the goods it leaves as they were at these, so it never moves a total by
	// rounding alone.
	Exact map[string]decimal.Decimal `json:"exact,omitempty"`
}

// scale is the precision of the arithmetic before the published rounding.
const scale = 10

// Combine turns the raters' sheets into a Result: each indicator's (trimmed) mean,
// or its Formula's points for the pairing's inputs, each good's share of its points
// as 0–100, the weighted total, the grade. The sheets must have passed CheckScores;
// fewer than MinRaters is an error.
func (r *Rubric) Combine(sheets []Scores, inputs Inputs) (Result, error) {
	if len(sheets) < r.MinRaters {
		return Result{}, Errorf(ECONFLICT, "评分人数不足：%d 人，至少 %d 人 %d raters scored; at least %d are needed", len(sheets), r.MinRaters, len(sheets), r.MinRaters)
	}
	res := Result{Goods: map[string]decimal.Decimal{}, Exact: map[string]decimal.Decimal{}, Raters: len(sheets), Trimmed: r.TrimFrom > 0 && len(sheets) >= r.TrimFrom}
	total := decimal.Zero
	for _, g := range r.Goods {
		got, full := decimal.Zero, decimal.Zero
		for _, in := range g.Indicators {
			key := g.Code + "." + in.Code
			full = full.Add(in.Points)
			if in.Formula != nil {
				p := in.Formula.points(in.Points, inputs)
				if res.Computed == nil {
					res.Computed = map[string]decimal.Decimal{}
				}
				res.Computed[key] = p.Round(2)
				got = got.Add(p)
				continue
			}
			vals := make([]decimal.Decimal, len(sheets))
			for i, s := range sheets {
				vals[i] = s[key]
			}
			got = got.Add(trimmedMean(vals, res.Trimmed))
		}
		score := got.Mul(d("100")).DivRound(full, scale)
		res.Goods[g.Code] = score.Round(2)
		res.Exact[g.Code] = score
		total = total.Add(score.Mul(g.Weight))
	}
	res.Total = total.DivRound(d("100"), scale).Round(2)
	res.Grade = r.Grade(res.Total)
	return res, nil
}

// Revise is res with some goods' scores (0–100, at most two decimals) changed by an
// appeal's decision: the total is weighed again — the other goods at their exact
// scores — and graded again.
func (r *Rubric) Revise(res Result, goods map[string]decimal.Decimal) (Result, error) {
	if len(goods) == 0 {
		return res, invalidField("goods", "改判须至少给出一项好的得分 a revision changes at least one good's score")
	}
	out := res
	out.Goods, out.Exact = maps.Clone(res.Goods), maps.Clone(res.Exact)
	if out.Exact == nil { // a result combined before exact scores were kept
		out.Exact = maps.Clone(res.Goods)
	}
	for code, v := range goods {
		if !slices.ContainsFunc(r.Goods, func(g Good) bool { return g.Code == code }) {
			return res, invalidField("goods."+code, "没有这一项 no such good")
		}
		if v.IsNegative() || v.GreaterThan(d("100")) || !v.Equal(v.Round(2)) {
			return res, invalidField("goods."+code, fmt.Sprintf("须在 0–100 之间、至多两位小数 must be 0 to 100 with at most two decimals, not %s", v))
		}
		out.Goods[code], out.Exact[code] = v, v
	}
	total := decimal.Zero
	for _, g := range r.Goods {
		total = total.Add(out.Exact[g.Code].Mul(g.Weight))
	}
	out.Total = total.DivRound(d("100"), scale).Round(2)
	out.Grade = r.Grade(out.Total)
	return out, nil
}

// trimmedMean is the mean of vals, without the highest and lowest when trim.
func trimmedMean(vals []decimal.Decimal, trim bool) decimal.Decimal {
	vals = slices.Clone(vals)
	if trim {
		sort.Slice(vals, func(i, j int) bool { return vals[i].LessThan(vals[j]) })
		vals = vals[1 : len(vals)-1]
	}
	sum := decimal.Zero
	for _, v := range vals {
		sum = sum.Add(v)
	}
	return sum.DivRound(decimal.NewFromInt(int64(len(vals))), scale)
}

// Grade is the grade of a total: at or above a threshold earns its grade.
func (r *Rubric) Grade(total decimal.Decimal) string {
	t := r.Thresholds
	switch {
	case total.GreaterThanOrEqual(t.Excellent):
		return GradeExcellent
	case total.GreaterThanOrEqual(t.Good):
		return GradeGood
	case total.GreaterThanOrEqual(t.Pass):
		return GradePass
	}
	return GradeFail
}

// Ranked is one pairing's place in a cycle's ranking.
type Ranked struct {
	PairingID  int64  `json:"pairing_id"`
	Department string `json:"department_code"`
	Result
	Rank int `json:"rank"`
	// Names, where the list was read from the store.
	DepartmentName string `json:"department_name,omitempty"`
	Village        string `json:"village_code,omitempty"`
	VillageName    string `json:"village_name,omitempty"`
}

// TieBreak is the order in which goods decide a tie of totals: the prosperity
// results (the centre), then the villagers' feedback (the root), then the
// leadership team (the key), then the rest in rubric order; a tie on every good goes
// to the lower pairing id (the earlier launched), so a ranking never depends on
// chance. Equal totals share nothing: every pairing has its own rank.
var TieBreak = []string{"prosperity", "feedback", "leadership"}

// RankPairings orders pairings best first and numbers them 1…n.
func (r *Rubric) RankPairings(ps []Ranked) []Ranked {
	order := slices.Clone(TieBreak)
	for _, g := range r.Goods {
		if !slices.Contains(order, g.Code) {
			order = append(order, g.Code)
		}
	}
	out := slices.Clone(ps)
	slices.SortStableFunc(out, func(a, b Ranked) int {
		if c := b.Total.Cmp(a.Total); c != 0 {
			return c
		}
		for _, g := range order {
			if c := b.Goods[g].Cmp(a.Goods[g]); c != 0 {
				return c
			}
		}
		return cmpInt(a.PairingID, b.PairingID)
	})
	for i := range out {
		out[i].Rank = i + 1
	}
	return out
}

func cmpInt(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// DepartmentRank is one department's place: the mean of its pairings' totals.
type DepartmentRank struct {
	Department string          `json:"department_code"`
	Name       string          `json:"name,omitempty"`
	Pairings   int             `json:"pairings"`
	Mean       decimal.Decimal `json:"mean"`
	Excellent  int             `json:"excellent"` // pairings graded excellent
	Failed     int             `json:"failed"`    // pairings graded fail
	Rank       int             `json:"rank"`
	Advanced   bool            `json:"advanced"` // 先进单位
}

// RankDepartments ranks departments by the mean of their pairings' totals (exact;
// shown to two decimals); ties go to more pairings graded excellent, then fewer
// failed, then the department code. Of the top share of the ranking (rounded up), those whose mean
// grades excellent and that have no failing pairing are the advanced departments.
func (r *Rubric) RankDepartments(ps []Ranked, share decimal.Decimal) []DepartmentRank {
	by := map[string]*DepartmentRank{}
	sums := map[string]decimal.Decimal{}
	for _, p := range ps {
		dr := by[p.Department]
		if dr == nil {
			dr = &DepartmentRank{Department: p.Department}
			by[p.Department] = dr
		}
		dr.Pairings++
		sums[p.Department] = sums[p.Department].Add(p.Total)
		switch p.Grade {
		case GradeExcellent:
			dr.Excellent++
		case GradeFail:
			dr.Failed++
		}
	}
	out := make([]DepartmentRank, 0, len(by))
	exact := map[string]decimal.Decimal{} // the means before rounding: they rank and grade
	for code, dr := range by {
		exact[code] = sums[code].DivRound(decimal.NewFromInt(int64(dr.Pairings)), scale)
		dr.Mean = exact[code].Round(2)
		out = append(out, *dr)
	}
	slices.SortFunc(out, func(a, b DepartmentRank) int {
		if c := exact[b.Department].Cmp(exact[a.Department]); c != 0 {
			return c
		}
		if a.Excellent != b.Excellent {
			return b.Excellent - a.Excellent
		}
		if a.Failed != b.Failed {
			return a.Failed - b.Failed
		}
		if a.Department < b.Department {
			return -1
		}
		return 1
	})
	quota := share.Mul(decimal.NewFromInt(int64(len(out)))).Ceil().IntPart()
	for i := range out {
		out[i].Rank = i + 1
		if int64(i) < quota && r.Grade(exact[out[i].Department]) == GradeExcellent && out[i].Failed == 0 {
			out[i].Advanced = true
		}
	}
	return out
}
