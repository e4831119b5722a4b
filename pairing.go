package baocun

import (
	"fmt"
	"strings"
)

// Pairing kinds: a department supports a lagging village (包扶) or co-builds a model
// village (共建).
const (
	KindSupport = "support"
	KindModel   = "model"
)

// PairingSpec is one pairing asked for at a cycle's launch.
type PairingSpec struct {
	DepartmentCode string `json:"department_code"`
	VillageCode    string `json:"village_code"`
	Kind           string `json:"kind"` // support | model (包扶 | 共建 accepted)
}

// ParseKind reads a pairing kind in English or Chinese.
func ParseKind(s string) (string, bool) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case KindSupport, "包扶":
		return KindSupport, true
	case KindModel, "共建":
		return KindModel, true
	}
	return "", false
}

var pairingColumns = []column{
	{"department_code", []string{"部门编码", "部门代码", "单位编码"}, true},
	{"village_code", []string{"村编码", "村代码", "行政村编码"}, true},
	{"kind", []string{"类型", "结对类型", "方式"}, true},
}

// ParsePairings reads the pairings format (department_code,village_code,kind).
func ParsePairings(in *Table) ([]PairingSpec, []int, error) {
	t, herrs := mapHeader(in, pairingColumns)
	e := &rowErrors{list: herrs}
	if len(herrs) > 0 {
		return nil, nil, e.err()
	}
	out := make([]PairingSpec, 0, len(in.Rows))
	lines := make([]int, 0, len(in.Rows))
	for _, r := range in.Rows {
		p := PairingSpec{DepartmentCode: t.code(e, r, "department_code", nil), VillageCode: t.code(e, r, "village_code", nil)}
		if k := t.required(e, r, "kind"); k != "" {
			if p.Kind, _ = ParseKind(k); p.Kind == "" {
				e.add(r.Line, t.col("kind"), "结对类型须为 包扶 或 共建 kind must be 包扶/support or 共建/model, not %q", k)
			}
		}
		out = append(out, p)
		lines = append(lines, r.Line)
	}
	return out, lines, e.err()
}

// LaunchDirectory is what validating a launch needs to know of the directory.
type LaunchDirectory struct {
	// People counts each known department's people (0: known, nobody to send).
	People map[string]int
	// Villages holds each known village's county, class and running pairing.
	Villages map[string]LaunchVillage
}

// LaunchVillage is what a launch needs to know of one village.
type LaunchVillage struct {
	County string
	Class  int
	// Cycle is the running cycle the village is paired in, its pairing not yet
	// closed or cancelled (0: none).
	Cycle int64
}

// ValidatePairings checks a launch's pairings against the directory before anything
// starts: every code known, every department able to send a team, no village paired
// twice, every village within the cycle's jurisdiction and in no other running cycle,
// and every support pairing's village lagging (class 2 or 3). A support pairing of a
// class 1 village is refused, or only warned of when the cycle's settings say
// class1_support "warn". lines[i] is where ps[i] came from (its line in a file, or
// its index + 1 in a JSON list); every problem is reported, not only the first.
func ValidatePairings(ps []PairingSpec, lines []int, jurisdiction string, dir LaunchDirectory, class1 string) (warnings []RowError, err error) {
	e, w := &rowErrors{}, &rowErrors{}
	if len(ps) == 0 {
		e.add(0, "pairings", "至少需要一个结对 a cycle needs at least one pairing")
	}
	firstLine := map[string]int{}
	for i, p := range ps {
		line := lines[i]
		people, knownDept := dir.People[p.DepartmentCode]
		switch {
		case !knownDept:
			e.add(line, "department_code", "没有这个部门 no such department %q", p.DepartmentCode)
		case people == 0:
			e.add(line, "department_code", "部门 %q 没有人员，无法派驻工作组 department %q has no people to send as a team", p.DepartmentCode, p.DepartmentCode)
		}
		v, knownVillage := dir.Villages[p.VillageCode]
		switch {
		case !knownVillage:
			e.add(line, "village_code", "没有这个行政村 no such village %q", p.VillageCode)
		case jurisdiction != CityJurisdiction && v.County != jurisdiction:
			e.add(line, "village_code", "行政村 %q 属于 %s，不在本轮辖区 %s village %q is in %s, outside the cycle's jurisdiction %s",
				p.VillageCode, v.County, jurisdiction, p.VillageCode, v.County, jurisdiction)
		case v.Cycle != 0:
			e.add(line, "village_code", "行政村 %q 已在进行中的第 %d 轮结对 village %q is already paired in running cycle %d",
				p.VillageCode, v.Cycle, p.VillageCode, v.Cycle)
		case p.Kind == KindSupport && v.Class == 1:
			to := e
			if class1 == Class1Warn {
				to = w
			}
			to.add(line, "kind", "行政村 %q 是一类村，包扶须为二类或三类村 village %q is class 1; a support pairing needs a class 2 or 3 village",
				p.VillageCode, p.VillageCode)
		}
		if first, dup := firstLine[p.VillageCode]; dup {
			e.add(line, "village_code", "行政村 %q 已在第 %d 行结对 village %q is already paired on line %d", p.VillageCode, first, p.VillageCode, first)
		} else {
			firstLine[p.VillageCode] = line
		}
		if _, ok := ParseKind(p.Kind); !ok {
			e.add(line, "kind", "结对类型须为 包扶 或 共建 kind must be support or model, not %q", p.Kind)
		}
	}
	return w.list, e.err()
}

// String renders a pairing for messages.
func (p PairingSpec) String() string {
	return fmt.Sprintf("%s→%s (%s)", p.DepartmentCode, p.VillageCode, p.Kind)
}
