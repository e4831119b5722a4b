package demo

import "testing"

// The sample directory is a valid import: every department has at least four
// people and names are unique.
func TestDemoSampleDirectory(t *testing.T) {
	s, err := NewSample(len(sampleVillages))
	if err != nil {
		t.Fatal(err)
	}
	people := map[string]int{}
	names := map[string]bool{}
	for _, p := range s.People {
		people[p.DepartmentCode]++
		if names[p.Name] {
			t.Errorf("name %s twice", p.Name)
		}
		names[p.Name] = true
	}
	for _, d := range s.Departments {
		if people[d.Code] < 4 {
			t.Errorf("department %s has %d people", d.Code, people[d.Code])
		}
	}
	depts := map[string]bool{}
	for _, r := range s.Reviewers {
		depts[s.Person(r).DepartmentCode] = true
	}
	if len(s.Reviewers) != 4 || len(depts) != 4 {
		t.Errorf("reviewers %v: want four of four departments (three raters for every pairing)", s.Reviewers)
	}
}
