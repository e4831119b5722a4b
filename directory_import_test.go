package baocun_test

import (
	"errors"
	"reflect"
	"strings"
	"testing"

	"baocun"
)

func rows(lines ...string) []baocun.Row {
	var out []baocun.Row
	for i, l := range lines {
		out = append(out, baocun.Row{Line: i + 2, Cells: strings.Split(l, ",")})
	}
	return out
}

func table(header []string, rows []baocun.Row) *baocun.Table {
	return &baocun.Table{HeaderLine: 1, Header: header, Rows: rows}
}

func importErrors(t *testing.T, err error) []baocun.RowError {
	t.Helper()
	var ie *baocun.ImportError
	if err == nil {
		return nil
	}
	if !errors.As(err, &ie) {
		t.Fatalf("err = %v, want *ImportError", err)
	}
	return ie.Rows
}

func TestParseDepartments(t *testing.T) {
	got, err := baocun.ParseDepartments(table([]string{"编码", "名称", "级别", "所属县"}, rows("D1,市农业局,市直,县A", "D2,县交通局,县直,县B", "D3,县水利局,county,县B")))
	if err != nil {
		t.Fatal(err)
	}
	want := []baocun.Department{{"D1", "市农业局", "市直", ""}, {"D2", "县交通局", "县直", "县B"}, {"D3", "县水利局", "县直", "县B"}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %+v", got)
	}
	tests := []struct {
		name   string
		header []string
		rows   []baocun.Row
		want   []baocun.RowError
	}{
		{"missing column", []string{"code", "name"}, rows("D1,x"), []baocun.RowError{{Line: 1, Column: "level"}}},
		{"bad level", []string{"code", "name", "level", "county"}, rows("D1,x,省直,"), []baocun.RowError{{Line: 2, Column: "level"}}},
		{"county dept without county", []string{"code", "name", "level", "county"}, rows("D1,x,县直,"), []baocun.RowError{{Line: 2, Column: "county"}}},
		{"duplicate code", []string{"code", "name", "level", "county"}, rows("D1,x,市直,", "D1,y,市直,"), []baocun.RowError{{Line: 3, Column: "code"}}},
		{"every bad cell reported", []string{"code", "name", "level", "county"}, rows(",,市直,", "D 2,y,x,"),
			[]baocun.RowError{{Line: 2, Column: "code"}, {Line: 2, Column: "name"}, {Line: 3, Column: "code"}, {Line: 3, Column: "level"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := baocun.ParseDepartments(table(tt.header, tt.rows))
			got := importErrors(t, err)
			if len(got) != len(tt.want) {
				t.Fatalf("errors %+v, want %+v", got, tt.want)
			}
			for i := range got {
				if got[i].Line != tt.want[i].Line || got[i].Column != tt.want[i].Column || got[i].Message == "" {
					t.Fatalf("error %d = %+v, want line %d column %s", i, got[i], tt.want[i].Line, tt.want[i].Column)
				}
			}
		})
	}
}

func TestParseVillages(t *testing.T) {
	header := []string{"code", "name", "county", "township", "class", "collective_income_wan", "population", "households"}
	got, err := baocun.ParseVillages(table(header, rows("V1,甲村,县A,一镇,3,12.50,1200,300", "V2,乙村,县B,二镇,二类,,,")))
	if err != nil {
		t.Fatal(err)
	}
	want := []baocun.Village{
		{Code: "V1", Name: "甲村", County: "县A", Township: "一镇", Class: 3, CollectiveIncomeWan: "12.5", Population: 1200, Households: 300},
		{Code: "V2", Name: "乙村", County: "县B", Township: "二镇", Class: 2}, // no income given: a new village's is 0, a known one's stays
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %+v", got)
	}
	tests := []struct {
		name string
		row  string
		col  string
	}{
		{"class out of range", "V1,甲村,县A,一镇,4,1,1,1", "class"},
		{"negative income", "V1,甲村,县A,一镇,3,-1,1,1", "collective_income_wan"},
		{"income not a number", "V1,甲村,县A,一镇,3,很多,1,1", "collective_income_wan"},
		{"float notation refused", "V1,甲村,县A,一镇,3,1e3,1,1", "collective_income_wan"},
		{"population not a count", "V1,甲村,县A,一镇,3,1,1.5,1", "population"},
		{"no county", "V1,甲村,,一镇,3,1,1,1", "county"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := baocun.ParseVillages(table(header, rows(tt.row)))
			got := importErrors(t, err)
			if len(got) != 1 || got[0].Line != 2 || got[0].Column != tt.col {
				t.Fatalf("errors %+v, want one at line 2 column %s", got, tt.col)
			}
		})
	}
}

func TestParsePeople(t *testing.T) {
	header := []string{"id", "name", "department_code", "title", "phone"}
	got, err := baocun.ParsePeople(table(header, rows("P1,张三,D1,科员,0794-8888888")))
	if err != nil || len(got) != 1 || got[0].DepartmentCode != "D1" {
		t.Fatalf("got %+v, %v", got, err)
	}
	_, err = baocun.ParsePeople(table(header, rows("P1,张三,D1,科员,call me", "P1,李四,D2,,")))
	got2 := importErrors(t, err)
	if len(got2) != 2 || got2[0].Column != "phone" || got2[1].Line != 3 || got2[1].Column != "id" {
		t.Fatalf("errors %+v", got2)
	}
}

// A header below blank lines is reported on its own line, and an error found later
// names the column as the file headed it.
func TestHeaderLineAndHeading(t *testing.T) {
	in := &baocun.Table{HeaderLine: 3, Header: []string{"编号", "姓名"}, Rows: rows("P1,张三")}
	_, err := baocun.ParsePeople(in)
	got := importErrors(t, err)
	if len(got) != 1 || got[0].Line != 3 || got[0].Column != "department_code" {
		t.Fatalf("errors %+v, want the missing column on line 3", got)
	}
	in.Header = []string{"编号", "姓名", "部门编码"}
	if h := baocun.ImportHeading(in, "people", "department_code"); h != "部门编码" {
		t.Fatalf("heading %q, want 部门编码", h)
	}
}

// A village's years: each row checked and named by line and column, a village's
// year once in a file, the class optional.
func TestParseVillageYears(t *testing.T) {
	in := table([]string{"村编码", "年度", "集体收入（万元）", "人口", "类别"}, rows("V1,2027,3.50,1200,2", "V1,2028,5,,", "V2,2028,0,900,一类"))
	ys, lines, err := baocun.ParseVillageYears(in)
	if err != nil {
		t.Fatal(err)
	}
	want := []baocun.VillageYear{{"V1", 2027, "3.5", 1200, 2}, {"V1", 2028, "5", 0, 0}, {"V2", 2028, "0", 900, 1}}
	if !reflect.DeepEqual(ys, want) || !reflect.DeepEqual(lines, []int{2, 3, 4}) {
		t.Fatalf("got %+v at %v", ys, lines)
	}
	bad := table([]string{"code", "year", "collective_income_wan", "class"}, rows("V1,1999,1,2", "V1,2030,-1,2", "V1,2030,1,4", "V2,2031,,1"))
	got := importErrors(t, third(baocun.ParseVillageYears(bad)))
	wantErrs := []baocun.RowError{{Line: 2, Column: "year"}, {Line: 3, Column: "collective_income_wan"}, {Line: 4, Column: "class"}, {Line: 4, Column: "year"}, {Line: 5, Column: "collective_income_wan"}}
	if len(got) != len(wantErrs) {
		t.Fatalf("errors %+v, want %+v", got, wantErrs)
	}
	for i := range got {
		if got[i].Line != wantErrs[i].Line || got[i].Column != wantErrs[i].Column {
			t.Fatalf("error %d = %+v, want line %d column %s", i, got[i], wantErrs[i].Line, wantErrs[i].Column)
		}
	}
}
