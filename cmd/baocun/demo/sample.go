package demo

import (
	"fmt"
	"strings"

	"baocun"
)

// Sample is the demo's built-in directory: two counties, twenty villages,
// six departments (four of the city, one of each county) and their people. The
// first n villages are paired, each with the department named beside it.
type Sample struct {
	Departments []baocun.Department
	Villages    []SampleVillage
	People      []baocun.Person
	Leads       map[string]string   // department → its lead's person id
	Staff       map[string][]string // department → people who serve on teams, in order
	Reviewers   []string            // four reviewers, of four departments: every pairing has three raters not of its department
	Paired      int                 // the first Paired villages are paired
	names       map[string]string   // person id → name
}

// SampleVillage is a village and the pairing the demo gives it.
type SampleVillage struct {
	baocun.Village
	Department string
	Kind       string // support for a lagging village (class 2, 3), model for an advanced one
}

const (
	countyQingshan = "青山县"
	countyBaishui  = "白水县"
)

var sampleDepartments = []baocun.Department{
	{Code: "SZ01", Name: "市发展和改革委员会", Level: baocun.LevelCity},
	{Code: "SZ02", Name: "市财政局", Level: baocun.LevelCity},
	{Code: "SZ03", Name: "市农业农村局", Level: baocun.LevelCity},
	{Code: "SZ04", Name: "市交通运输局", Level: baocun.LevelCity},
	{Code: "QS01", Name: "青山县水利局", Level: baocun.LevelCounty, County: countyQingshan},
	{Code: "BS01", Name: "白水县教育局", Level: baocun.LevelCounty, County: countyBaishui},
}

// sampleVillages alternate between the counties, so any first n cover both.
var sampleVillages = []baocun.Village{
	{Code: "QS-001", Name: "杨柳村", County: countyQingshan, Township: "青山镇", Class: 3, CollectiveIncomeWan: "1.2", Population: 1260, Households: 352},
	{Code: "BS-001", Name: "白石村", County: countyBaishui, Township: "白水镇", Class: 2, CollectiveIncomeWan: "2.8", Population: 1835, Households: 507},
	{Code: "QS-002", Name: "石桥村", County: countyQingshan, Township: "石门乡", Class: 2, CollectiveIncomeWan: "3.5", Population: 2104, Households: 596},
	{Code: "BS-002", Name: "龙泉村", County: countyBaishui, Township: "龙泉乡", Class: 3, CollectiveIncomeWan: "0.6", Population: 980, Households: 271},
	{Code: "QS-003", Name: "红旗村", County: countyQingshan, Township: "柳溪镇", Class: 1, CollectiveIncomeWan: "18.5", Population: 3120, Households: 874},
	{Code: "BS-003", Name: "桃源村", County: countyBaishui, Township: "桃源镇", Class: 2, CollectiveIncomeWan: "4.1", Population: 1567, Households: 430},
	{Code: "QS-004", Name: "大坪村", County: countyQingshan, Township: "青山镇", Class: 3, CollectiveIncomeWan: "0.9", Population: 1043, Households: 295},
	{Code: "BS-004", Name: "双河村", County: countyBaishui, Township: "白水镇", Class: 2, CollectiveIncomeWan: "3.0", Population: 1702, Households: 468},
	{Code: "QS-005", Name: "新庄村", County: countyQingshan, Township: "石门乡", Class: 2, CollectiveIncomeWan: "2.2", Population: 1398, Households: 390},
	{Code: "BS-005", Name: "清泉村", County: countyBaishui, Township: "龙泉乡", Class: 1, CollectiveIncomeWan: "21.0", Population: 2890, Households: 802},
	{Code: "QS-006", Name: "桃花村", County: countyQingshan, Township: "柳溪镇", Class: 3, CollectiveIncomeWan: "0.5", Population: 876, Households: 240},
	{Code: "BS-006", Name: "高峰村", County: countyBaishui, Township: "桃源镇", Class: 3, CollectiveIncomeWan: "0.8", Population: 1120, Households: 305},
	{Code: "QS-007", Name: "东岭村", County: countyQingshan, Township: "青山镇", Class: 2, CollectiveIncomeWan: "2.6", Population: 1650, Households: 455},
	{Code: "BS-007", Name: "长岗村", County: countyBaishui, Township: "白水镇", Class: 2, CollectiveIncomeWan: "3.3", Population: 1930, Households: 531},
	{Code: "QS-008", Name: "河湾村", County: countyQingshan, Township: "石门乡", Class: 3, CollectiveIncomeWan: "1.0", Population: 1205, Households: 333},
	{Code: "BS-008", Name: "梨树村", County: countyBaishui, Township: "龙泉乡", Class: 2, CollectiveIncomeWan: "2.4", Population: 1488, Households: 412},
	{Code: "QS-009", Name: "松林村", County: countyQingshan, Township: "柳溪镇", Class: 2, CollectiveIncomeWan: "3.8", Population: 2011, Households: 560},
	{Code: "BS-009", Name: "马鞍村", County: countyBaishui, Township: "桃源镇", Class: 3, CollectiveIncomeWan: "0.7", Population: 935, Households: 262},
	{Code: "QS-010", Name: "枣园村", County: countyQingshan, Township: "青山镇", Class: 1, CollectiveIncomeWan: "15.6", Population: 2655, Households: 731},
	{Code: "BS-010", Name: "金竹村", County: countyBaishui, Township: "白水镇", Class: 2, CollectiveIncomeWan: "2.9", Population: 1590, Households: 441},
}

// pairedWith names, in turn, the department of each village: the four city
// departments, then the village's own county's department.
var pairedWith = []string{"SZ01", "SZ02", "SZ03", "SZ04", "county"}

var (
	surnames   = []rune("王李张刘陈杨黄赵吴周徐孙马朱胡郭何林罗高郑梁谢宋唐许韩冯邓曹")
	givenNames = []string{"建国", "秀英", "志强", "丽华", "国平", "海燕", "文斌", "春梅", "卫东", "小红",
		"德明", "桂兰", "永刚", "晓燕", "振华", "玉珍", "立新", "红霞", "明亮", "淑芬",
		"少华", "静", "勇", "敏", "杰", "磊", "洁", "军", "婷", "涛"}
	leadTitles  = map[string]string{"SZ01": "主任", "SZ02": "局长", "SZ03": "局长", "SZ04": "局长", "QS01": "局长", "BS01": "局长"}
	staffTitles = []string{"副处长", "科长", "副科长", "一级主任科员", "四级主任科员", "科员"}
)

// NewSample builds the directory for a demo of n paired villages: each
// department has its lead, three people for each of its villages and one spare for a
// team change; SZ01–SZ04 each also have a reviewer.
func NewSample(n int) (*Sample, error) {
	if n < MinVillages || n > len(sampleVillages) {
		return nil, fmt.Errorf("demo: %d villages: want %d–%d", n, MinVillages, len(sampleVillages))
	}
	s := &Sample{Departments: sampleDepartments, Paired: n, Leads: map[string]string{}, Staff: map[string][]string{}, names: map[string]string{}}
	villages := map[string]int{}
	for i, v := range sampleVillages {
		sv := SampleVillage{Village: v, Department: pairedWith[i%len(pairedWith)], Kind: baocun.KindSupport}
		// The village committee's office, for check-ins: spread over two counties'
		// hills, a few kilometres apart.
		lat, lng := 28.1+0.031*float64(i%7), 112.9+0.027*float64(i)
		sv.Lat, sv.Lng = &lat, &lng
		if sv.Department == "county" {
			sv.Department = map[string]string{countyQingshan: "QS01", countyBaishui: "BS01"}[v.County]
		}
		if v.Class == 1 {
			sv.Kind = baocun.KindModel
		}
		s.Villages = append(s.Villages, sv)
		if i < n {
			villages[sv.Department]++
		}
	}
	used := map[string]bool{}
	k := 0
	name := func() string {
		for {
			k++
			nm := string(surnames[k%len(surnames)]) + givenNames[(k*7+k/len(surnames))%len(givenNames)]
			if !used[nm] {
				used[nm] = true
				return nm
			}
		}
	}
	add := func(dept, suffix, title string) string {
		p := baocun.Person{ID: dept + "-" + suffix, Name: name(), DepartmentCode: dept, Title: title, Phone: fmt.Sprintf("139%08d", 10000+k*37)}
		s.People = append(s.People, p)
		s.names[p.ID] = p.Name
		return p.ID
	}
	for _, d := range s.Departments {
		s.Leads[d.Code] = add(d.Code, "L", leadTitles[d.Code])
		for i := range 3*villages[d.Code] + 1 {
			s.Staff[d.Code] = append(s.Staff[d.Code], add(d.Code, fmt.Sprintf("%02d", i+1), staffTitles[i%len(staffTitles)]))
		}
		if d.Code == "SZ01" || d.Code == "SZ02" || d.Code == "SZ03" || d.Code == "SZ04" {
			s.Reviewers = append(s.Reviewers, add(d.Code, "R", "督查室主任"))
		}
	}
	return s, nil
}

// MinVillages is enough pairings for each scripted event to have its own.
const MinVillages = 5

// MaxVillages is the most villages the sample directory has.
func MaxVillages() int { return len(sampleVillages) }

func (s *Sample) name(person string) string { return s.names[person] }

func (s *Sample) department(code string) baocun.Department {
	for _, d := range s.Departments {
		if d.Code == code {
			return d
		}
	}
	return baocun.Department{Code: code}
}

// Person returns a person of the directory.
func (s *Sample) Person(id string) baocun.Person {
	for _, p := range s.People {
		if p.ID == id {
			return p
		}
	}
	return baocun.Person{ID: id}
}

// DepartmentsCSV is the departments file as the import takes it.
func (s *Sample) DepartmentsCSV() string {
	var b strings.Builder
	b.WriteString("code,name,level,county\n")
	for _, d := range s.Departments {
		fmt.Fprintf(&b, "%s,%s,%s,%s\n", d.Code, d.Name, d.Level, d.County)
	}
	return b.String()
}

// VillagesCSV is the villages file as the import takes it.
func (s *Sample) VillagesCSV() string {
	var b strings.Builder
	b.WriteString("code,name,county,township,class,collective_income_wan,population,households,lat,lng\n")
	for _, v := range s.Villages {
		fmt.Fprintf(&b, "%s,%s,%s,%s,%d,%s,%d,%d,%.6f,%.6f\n", v.Code, v.Name, v.County, v.Township, v.Class, v.CollectiveIncomeWan, v.Population, v.Households, *v.Lat, *v.Lng)
	}
	return b.String()
}

// PeopleCSV is the people file as the import takes it.
func (s *Sample) PeopleCSV() string {
	var b strings.Builder
	b.WriteString("id,name,department_code,title,phone\n")
	for _, p := range s.People {
		fmt.Fprintf(&b, "%s,%s,%s,%s,%s\n", p.ID, p.Name, p.DepartmentCode, p.Title, p.Phone)
	}
	return b.String()
}
