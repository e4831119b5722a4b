package baocun

import (
	"fmt"
	"math/big"
	"regexp"
	"strconv"
	"strings"
)

// column is one column of an import format: its SPEC name and the Chinese headings
// that mean the same, as officials write them.
type column struct {
	name     string
	aliases  []string
	required bool
}

var (
	departmentColumns = []column{
		{"code", []string{"编码", "代码", "部门编码", "部门代码"}, true},
		{"name", []string{"名称", "部门名称", "单位名称"}, true},
		{"level", []string{"级别", "层级"}, true},
		{"county", []string{"县", "所属县", "县区", "所属县区"}, false},
	}
	villageColumns = []column{
		{"code", []string{"编码", "代码", "村编码", "村代码"}, true},
		{"name", []string{"名称", "村名", "村名称"}, true},
		{"county", []string{"县", "所属县", "县区"}, true},
		{"township", []string{"乡镇", "所属乡镇"}, true},
		{"class", []string{"类别", "类型", "村类别"}, true},
		{"collective_income_wan", []string{"集体收入", "村集体收入", "集体收入(万元)", "集体收入（万元）"}, false},
		{"population", []string{"人口", "总人口"}, false},
		{"households", []string{"户数", "总户数"}, false},
		{"lat", []string{"纬度"}, false},
		{"lng", []string{"经度"}, false},
	}
	personColumns = []column{
		{"id", []string{"编号", "人员编号", "身份编号"}, true},
		{"name", []string{"姓名"}, true},
		{"department_code", []string{"部门编码", "部门代码", "单位编码"}, true},
		{"title", []string{"职务"}, false},
		{"phone", []string{"电话", "手机", "联系电话"}, false},
	}
)

// table maps a file's header onto a format's columns.
type table struct {
	index  map[string]int    // column name → cell index
	header map[string]string // column name → the heading the file used
}

func mapHeader(in *Table, cols []column) (*table, []RowError) {
	header, line := in.Header, max(in.HeaderLine, 1)
	t := &table{index: map[string]int{}, header: map[string]string{}}
	var errs []RowError
	for i, h := range header {
		key := strings.ToLower(strings.TrimSpace(h))
		for _, c := range cols {
			if key == c.name || containsStr(c.aliases, key) {
				if _, dup := t.index[c.name]; dup {
					errs = append(errs, RowError{Line: line, Column: h, Message: "列重复 duplicate column " + c.name})
				}
				t.index[c.name], t.header[c.name] = i, h
			}
		}
	}
	for _, c := range cols {
		if _, ok := t.index[c.name]; c.required && !ok {
			errs = append(errs, RowError{Line: line, Column: c.name, Message: fmt.Sprintf("缺少必需的列 missing required column %q (or %s)", c.name, strings.Join(c.aliases, "/"))})
		}
	}
	return t, errs
}

func containsStr(list []string, s string) bool {
	for _, x := range list {
		if strings.ToLower(x) == s {
			return true
		}
	}
	return false
}

func (t *table) cell(r Row, name string) string {
	i, ok := t.index[name]
	if !ok || i >= len(r.Cells) {
		return ""
	}
	return r.Cells[i]
}

func (t *table) col(name string) string {
	if h, ok := t.header[name]; ok {
		return h
	}
	return name
}

// rowErrors collects problems, at most maxRowErrors of them: a wholly wrong file
// should not produce a million-line answer.
type rowErrors struct{ list []RowError }

const maxRowErrors = 200

func (e *rowErrors) add(line int, column, format string, args ...any) {
	if len(e.list) < maxRowErrors {
		e.list = append(e.list, RowError{Line: line, Column: column, Message: fmt.Sprintf(format, args...)})
	}
}

func (e *rowErrors) err() error {
	if len(e.list) == 0 {
		return nil
	}
	return &ImportError{Rows: e.list}
}

var codePattern = regexp.MustCompile(`^[\p{L}\p{N}_.-]{1,64}$`)

// required checks a required text cell; unique checks a key is not repeated.
func (t *table) required(e *rowErrors, r Row, name string) string {
	v := t.cell(r, name)
	if v == "" {
		e.add(r.Line, t.col(name), "不能为空 required")
	}
	return v
}

func (t *table) code(e *rowErrors, r Row, name string, seen map[string]int) string {
	v := t.required(e, r, name)
	if v == "" {
		return v
	}
	if !codePattern.MatchString(v) {
		e.add(r.Line, t.col(name), "编码只能包含字母、数字、_ . - invalid code %q", v)
	}
	if seen != nil {
		if first, dup := seen[v]; dup {
			e.add(r.Line, t.col(name), "编码 %q 与第 %d 行重复 duplicates line %d", v, first, first)
		} else {
			seen[v] = r.Line
		}
	}
	return v
}

func (t *table) count(e *rowErrors, r Row, name string) int {
	v := strings.ReplaceAll(t.cell(r, name), ",", "")
	if v == "" {
		return 0
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 || n > maxCount {
		e.add(r.Line, t.col(name), "须为 0–%d 的整数 must be a whole number from 0 to %d, not %q", maxCount, maxCount, v)
	}
	return n
}

// class reads a village's class cell c (1, 2, 3, or 一类 …): 0 when empty.
func (t *table) class(e *rowErrors, r Row, c string) int {
	switch c {
	case "":
	case "1", "一类", "一":
		return 1
	case "2", "二类", "二":
		return 2
	case "3", "三类", "三":
		return 3
	default:
		e.add(r.Line, t.col("class"), "类别须为 1、2 或 3 class must be 1, 2 or 3, not %q", c)
	}
	return 0
}

// income reads a collective income cell s (万元) as an exact decimal: "" when empty.
func (t *table) income(e *rowErrors, r Row, s string) string {
	if s == "" {
		return ""
	}
	d, ok := normaliseDecimal(s)
	if !ok || checkDecimal("collective_income_wan", d, maxIncomeWan) != nil {
		e.add(r.Line, t.col("collective_income_wan"), "须为 0–10000000 的数（万元） must be a number from 0 to 10,000,000 in 万元, not %q", s)
	}
	return d
}

// maxCount bounds a count a directory file gives (a village's people or households).
const maxCount = 10_000_000

// maxIncomeWan bounds a village's collective income (万元), as a report's.
const maxIncomeWan = 1e7

// ParseDepartments validates the departments format (code,name,level,county).
func ParseDepartments(in *Table) ([]Department, error) {
	t, herrs := mapHeader(in, departmentColumns)
	e := &rowErrors{list: herrs}
	if len(herrs) > 0 {
		return nil, e.err()
	}
	seen := map[string]int{}
	out := make([]Department, 0, len(in.Rows))
	for _, r := range in.Rows {
		d := Department{Code: t.code(e, r, "code", seen), Name: t.required(e, r, "name"), County: t.cell(r, "county")}
		switch lv := t.required(e, r, "level"); strings.ToLower(lv) {
		case LevelCity, "city", "市级":
			d.Level = LevelCity
			d.County = "" // a city-level department belongs to the whole city
		case LevelCounty, "county", "县级":
			d.Level = LevelCounty
			if d.County == "" {
				e.add(r.Line, t.col("county"), "县直部门须填写所属县 a county-level department needs its county")
			}
		case "":
		default:
			e.add(r.Line, t.col("level"), "级别须为 市直 或 县直 level must be 市直 or 县直, not %q", lv)
		}
		out = append(out, d)
	}
	return out, e.err()
}

// ParseVillages validates the villages format
// (code,name,county,township,class,collective_income_wan,population,households).
func ParseVillages(in *Table) ([]Village, error) {
	t, herrs := mapHeader(in, villageColumns)
	e := &rowErrors{list: herrs}
	if len(herrs) > 0 {
		return nil, e.err()
	}
	seen := map[string]int{}
	out := make([]Village, 0, len(in.Rows))
	for _, r := range in.Rows {
		v := Village{
			Code: t.code(e, r, "code", seen), Name: t.required(e, r, "name"),
			County: t.required(e, r, "county"), Township: t.required(e, r, "township"),
			Population: t.count(e, r, "population"), Households: t.count(e, r, "households"),
		}
		v.Class = t.class(e, r, t.required(e, r, "class"))
		v.Lat, v.Lng = t.position(e, r)
		v.CollectiveIncomeWan = t.income(e, r, t.cell(r, "collective_income_wan")) // none given: the one stored stays
		out = append(out, v)
	}
	return out, e.err()
}

// position reads a row's optional lat and lng: both or neither, each in range.
func (t *table) position(e *rowErrors, r Row) (*float64, *float64) {
	ls, gs := strings.TrimSpace(t.cell(r, "lat")), strings.TrimSpace(t.cell(r, "lng"))
	if ls == "" && gs == "" {
		return nil, nil
	}
	if ls == "" || gs == "" {
		col := "lat"
		if ls != "" {
			col = "lng"
		}
		e.add(r.Line, t.col(col), "纬度与经度须同时给出 lat and lng come together")
		return nil, nil
	}
	lat, err1 := strconv.ParseFloat(ls, 64)
	lng, err2 := strconv.ParseFloat(gs, 64)
	switch {
	case err1 != nil || lat < -90 || lat > 90 || lat != lat:
		e.add(r.Line, t.col("lat"), "纬度须为 -90 到 90 之间的数 lat must be a number from -90 to 90, not %q", ls)
	case err2 != nil || lng < -180 || lng > 180 || lng != lng:
		e.add(r.Line, t.col("lng"), "经度须为 -180 到 180 之间的数 lng must be a number from -180 to 180, not %q", gs)
	default:
		return &lat, &lng
	}
	return nil, nil
}

// normaliseDecimal normalises a non-negative decimal exactly (no float rounding): "12.50" →
// "12.5", "3" → "3".
func normaliseDecimal(s string) (string, bool) {
	r, ok := new(big.Rat).SetString(strings.ReplaceAll(s, ",", ""))
	if !ok || r.Sign() < 0 || strings.ContainsAny(s, "eE/") {
		return "", false
	}
	out := r.FloatString(6)
	out = strings.TrimRight(strings.TrimRight(out, "0"), ".")
	if out == "" {
		out = "0"
	}
	return out, true
}

var phonePattern = regexp.MustCompile(`^[0-9+() -]{3,32}$`)

// ParsePeople validates the people format (id,name,department_code,title,phone).
// Whether each department exists is the store's to check.
func ParsePeople(in *Table) ([]Person, error) {
	t, herrs := mapHeader(in, personColumns)
	e := &rowErrors{list: herrs}
	if len(herrs) > 0 {
		return nil, e.err()
	}
	seen := map[string]int{}
	out := make([]Person, 0, len(in.Rows))
	for _, r := range in.Rows {
		p := Person{
			ID: t.code(e, r, "id", seen), Name: t.required(e, r, "name"),
			DepartmentCode: t.code(e, r, "department_code", nil), Title: t.cell(r, "title"), Phone: t.cell(r, "phone"),
		}
		if p.Phone != "" && !phonePattern.MatchString(p.Phone) {
			e.add(r.Line, t.col("phone"), "电话号码格式不对 not a phone number: %q", p.Phone)
		}
		out = append(out, p)
	}
	return out, e.err()
}

// ImportHeading is the heading a file of kind (people, village_years) used for a
// column (it may be one of the Chinese ones), for errors found after parsing.
func ImportHeading(in *Table, kind, name string) string {
	cols := personColumns
	if kind == "village_years" {
		cols = villageYearColumns
	}
	t, _ := mapHeader(in, cols)
	return t.col(name)
}

// VillageYear is one year of a village's record (村情年度数据): its collective income,
// population and, where known, its class — imported year by year, so the programme's
// figures follow the villages over time.
type VillageYear struct {
	VillageCode         string `json:"village_code"`
	Year                int    `json:"year"`
	CollectiveIncomeWan string `json:"collective_income_wan"`
	Population          int    `json:"population"`
	Class               int    `json:"class,omitempty"` // 0: not given
}

var villageYearColumns = []column{
	{"code", []string{"编码", "村编码", "村代码", "village_code"}, true},
	{"year", []string{"年度", "年份"}, true},
	{"collective_income_wan", []string{"集体收入", "村集体收入", "集体收入(万元)", "集体收入（万元）"}, true},
	{"population", []string{"人口", "总人口"}, false},
	{"class", []string{"类别", "村类别"}, false},
}

// ParseVillageYears validates the village records format
// (code,year,collective_income_wan,population,class): a year from 2000 to 2100, each
// village's year once; whether each village exists is the store's to check.
func ParseVillageYears(in *Table) ([]VillageYear, []int, error) {
	t, herrs := mapHeader(in, villageYearColumns)
	e := &rowErrors{list: herrs}
	if len(herrs) > 0 {
		return nil, nil, e.err()
	}
	seen := map[string]int{}
	out := make([]VillageYear, 0, len(in.Rows))
	lines := make([]int, 0, len(in.Rows))
	for _, r := range in.Rows {
		y := VillageYear{VillageCode: t.code(e, r, "code", nil), Population: t.count(e, r, "population")}
		if s := t.required(e, r, "year"); s != "" {
			n, err := strconv.Atoi(s)
			if err != nil || n < 2000 || n > 2100 {
				e.add(r.Line, t.col("year"), "年度须为 2000–2100 的年份 year must be a year from 2000 to 2100, not %q", s)
			}
			y.Year = n
		}
		y.CollectiveIncomeWan = t.income(e, r, t.required(e, r, "collective_income_wan"))
		y.Class = t.class(e, r, t.cell(r, "class"))
		key := fmt.Sprintf("%s/%d", y.VillageCode, y.Year)
		if first, dup := seen[key]; dup {
			e.add(r.Line, t.col("year"), "行政村 %s 的 %d 年已在第 %d 行 village %s's %d is on line %d already", y.VillageCode, y.Year, first, y.VillageCode, y.Year, first)
		} else {
			seen[key] = r.Line
		}
		out = append(out, y)
		lines = append(lines, r.Line)
	}
	return out, lines, e.err()
}
