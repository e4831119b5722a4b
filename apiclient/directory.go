package apiclient

import (
	"context"
	"net/url"

	"baocun"
)

// The directory: departments, villages and people, imported whole or kept one
// record at a time.

// ImportDirectory posts a directory file as CSV: kind is "departments", "villages"
// or "people". The whole file is stored or none of it; a rejected file is an *Error
// (422) whose Rows say what is wrong, line by line. It returns the rows imported.
func (c *Client) ImportDirectory(ctx context.Context, kind, csv string) (int, error) {
	return c.importFile(ctx, kind, csv)
}

// xlsxType is the media type of an XLSX workbook.
const xlsxType = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"

// ImportWorkbook is ImportDirectory for an XLSX workbook (its first sheet).
func (c *Client) ImportWorkbook(ctx context.Context, kind string, xlsx []byte) (int, error) {
	return c.importFile(ctx, kind, file{data: xlsx, contentType: xlsxType})
}

func (c *Client) importFile(ctx context.Context, kind string, body any) (int, error) {
	var out struct {
		Imported int `json:"imported"`
	}
	err := c.do(ctx, "POST", "api/v1/import/"+url.PathEscape(kind), body, &out)
	return out.Imported, err
}

// countyQuery is a directory list's query: the county's records, or ("") the city's.
func countyQuery(county string) url.Values {
	q := url.Values{}
	if county != "" {
		q.Set("county", county)
	}
	return withLimit(q, 500)
}

// Departments lists the departments, every page: those of a county (the county's
// own departments), or with county "" the whole city's.
func (c *Client) Departments(ctx context.Context, county string) ([]baocun.Department, error) {
	return list[baocun.Department](ctx, c, "api/v1/departments", countyQuery(county))
}

// Department is one department.
func (c *Client) Department(ctx context.Context, code string) (*baocun.Department, error) {
	return get[baocun.Department](ctx, c, "api/v1/departments/"+url.PathEscape(code))
}

// PutDepartment creates or replaces the department d.Code, validated as one row of
// an import, and returns it as stored.
func (c *Client) PutDepartment(ctx context.Context, d baocun.Department) (*baocun.Department, error) {
	var out baocun.Department
	if err := c.do(ctx, "PUT", "api/v1/departments/"+url.PathEscape(d.Code), d, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// DepartmentPeople lists a department's people.
func (c *Client) DepartmentPeople(ctx context.Context, code string) ([]baocun.Person, error) {
	return list[baocun.Person](ctx, c, "api/v1/departments/"+url.PathEscape(code)+"/people", nil)
}

// Villages lists the villages, every page: a county's, or with county "" the
// whole city's.
func (c *Client) Villages(ctx context.Context, county string) ([]baocun.Village, error) {
	return list[baocun.Village](ctx, c, "api/v1/villages", countyQuery(county))
}

// UnpairedVillages lists the lagging villages (class 2 or 3) in no running cycle's
// open pairing, every page: a county's, or with county "" the whole city's.
func (c *Client) UnpairedVillages(ctx context.Context, county string) ([]baocun.Village, error) {
	q := countyQuery(county)
	q.Set("unpaired", "1")
	return list[baocun.Village](ctx, c, "api/v1/villages", q)
}

// Village is one village.
func (c *Client) Village(ctx context.Context, code string) (*baocun.Village, error) {
	return get[baocun.Village](ctx, c, "api/v1/villages/"+url.PathEscape(code))
}

// PutVillage creates or replaces the village v.Code, validated as one row of an
// import, and returns it as stored.
func (c *Client) PutVillage(ctx context.Context, v baocun.Village) (*baocun.Village, error) {
	var out baocun.Village
	if err := c.do(ctx, "PUT", "api/v1/villages/"+url.PathEscape(v.Code), v, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// Person is one person of the directory.
func (c *Client) Person(ctx context.Context, id string) (*baocun.Person, error) {
	return get[baocun.Person](ctx, c, "api/v1/people/"+url.PathEscape(id))
}

// PutPerson creates or replaces the person p.ID, validated as one row of an import,
// and returns them as stored.
func (c *Client) PutPerson(ctx context.Context, p baocun.Person) (*baocun.Person, error) {
	var out baocun.Person
	if err := c.do(ctx, "PUT", "api/v1/people/"+url.PathEscape(p.ID), p, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// VillageHistory is a village over time: its years and its pairings' classes.
func (c *Client) VillageHistory(ctx context.Context, code string) (*baocun.VillageHistory, error) {
	return get[baocun.VillageHistory](ctx, c, "api/v1/villages/"+url.PathEscape(code)+"/history")
}

// AddLeaderContact registers a leader's contact village.
func (c *Client) AddLeaderContact(ctx context.Context, village string, in baocun.LeaderContactInput) (*baocun.LeaderContact, error) {
	var out baocun.LeaderContact
	if err := c.do(ctx, "POST", "api/v1/villages/"+url.PathEscape(village)+"/contacts", in, &out); err != nil {
		return nil, err
	}
	return &out, nil
}
