package baocun_test

import (
	"errors"
	"strings"
	"testing"

	"baocun"
)

// FuzzParse: no table makes an import parser panic; a rejected table is an
// ImportError whose every row error names a line of the table and a column; an
// accepted one has every required code. Plain `go test` runs the seeds; `go test
// -fuzz FuzzParse .` explores (CI runs it for a bounded time).
func FuzzParse(f *testing.F) {
	for _, seed := range []string{
		"code,name,level,county\nD1,农业局,县直,县A\nD2,财政局,市直,",
		"code,name,county,township,class,collective_income_wan,population,households\nV1,甲村,县A,一镇,3,1.5,100,30",
		"编码,村名,所属县,乡镇,类别\nV1,甲村,县A,一镇,9\nV1,乙村,县A,一镇,2",
		"id,name,department_code,title,phone\nP1,张三,D1,科员,13900000000",
		"department_code,village_code,kind\nD1,V1,包扶\nD1,V2,共建\nD1,V3,nope",
		"code,code\n,,,,",
		"\ufeffcode,name\n\x00,\xff",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, text string) {
		head, body, _ := strings.Cut(text, "\n")
		tab := table(strings.Split(head, ","), rows(strings.Split(body, "\n")...))
		check := func(parser string, err error) {
			if err == nil {
				return
			}
			var ie *baocun.ImportError
			if !errors.As(err, &ie) || len(ie.Rows) == 0 {
				t.Fatalf("%s: error %v is not an ImportError with rows", parser, err)
			}
			for _, r := range ie.Rows {
				if r.Line < 1 || r.Line > len(tab.Rows)+tab.HeaderLine || r.Message == "" {
					t.Fatalf("%s: row error %+v outside the table of %d lines", parser, r, len(tab.Rows)+tab.HeaderLine)
				}
			}
		}
		ds, err := baocun.ParseDepartments(tab)
		check("departments", err)
		for _, d := range ds {
			if err == nil && (d.Code == "" || d.Name == "") {
				t.Fatalf("department accepted without code or name: %+v", d)
			}
		}
		vs, err := baocun.ParseVillages(tab)
		check("villages", err)
		for _, v := range vs {
			if err == nil && (v.Code == "" || v.County == "" || v.Class < 1 || v.Class > 3) {
				t.Fatalf("village accepted incomplete: %+v", v)
			}
		}
		_, err = baocun.ParsePeople(tab)
		check("people", err)
		ps, _, err := baocun.ParsePairings(tab)
		check("pairings", err)
		for _, p := range ps {
			if err == nil && (p.DepartmentCode == "" || p.VillageCode == "" || p.Kind == "") {
				t.Fatalf("pairing accepted incomplete: %+v", p)
			}
		}
	})
}
