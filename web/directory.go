package web

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"reflect"
	"strings"

	"github.com/gin-gonic/gin"

	"baocun"
	"baocun/sheet"
)

// countyList is the loader of directory lists: with ?county= the list is that
// county's, so roles held in the county may read it; without, it is the whole city's.
func countyList(name string) loader {
	return func(c *gin.Context) (Resource, error) {
		if county := c.Query("county"); county != "" {
			return Resource{Name: name + "?county=" + county, Jurisdiction: county}, nil
		}
		return Resource{Name: name, Jurisdiction: baocun.CityJurisdiction}, nil
	}
}

// departmentResource loads the department in the path: its jurisdiction and code
// decide who may see it.
func departmentResource(store Store) loader {
	return func(c *gin.Context) (Resource, error) {
		d, err := store.Department(c.Request.Context(), c.Param("code"))
		if err != nil {
			return Resource{}, err
		}
		c.Set(ctxRecord, d)
		return Resource{Name: "departments/" + d.Code, Jurisdiction: d.Jurisdiction(), Department: d.Code}, nil
	}
}

func handleDepartmentPeople(store Store) gin.HandlerFunc {
	return func(c *gin.Context) {
		people, err := store.People(c.Request.Context(), c.Param("code"))
		if err != nil {
			Error(c, err)
			return
		}
		c.JSON(http.StatusOK, page[baocun.Person]{Items: people})
	}
}

// handleImport takes a departments, villages or people file — the request body
// (text/csv or XLSX) or a multipart field "file" — and stores all of it or none.
func handleImport(store Store) gin.HandlerFunc {
	return func(c *gin.Context) {
		kind := c.Param("kind")
		data, contentType, err := uploadedFile(c)
		if err != nil {
			Error(c, err)
			return
		}
		t, err := sheet.Read(data, contentType)
		if err != nil {
			Error(c, err)
			return
		}
		sum := sha256.Sum256(data)
		e := auditEntry(c, http.StatusOK, map[string]any{"kind": kind, "rows": len(t.Rows), "bytes": len(data), "sha256": hex.EncodeToString(sum[:])})
		e.Resource = "import/" + kind
		ctx := c.Request.Context()
		switch kind {
		case "departments":
			var ds []baocun.Department
			if ds, err = baocun.ParseDepartments(t); err == nil {
				err = store.ImportDepartments(ctx, ds, e)
			}
		case "villages":
			var vs []baocun.Village
			if vs, err = baocun.ParseVillages(t); err == nil {
				err = store.ImportVillages(ctx, vs, e)
			}
		case "people":
			var ps []baocun.Person
			if ps, err = baocun.ParsePeople(t); err == nil {
				lines := make([]int, len(t.Rows))
				for i, r := range t.Rows {
					lines[i] = r.Line
				}
				err = store.ImportPeople(ctx, ps, lines, baocun.ImportHeading(t, "people", "department_code"), e)
			}
		case "village_years":
			var ys []baocun.VillageYear
			var lines []int
			if ys, lines, err = baocun.ParseVillageYears(t); err == nil {
				err = store.ImportVillageYears(ctx, ys, lines, baocun.ImportHeading(t, "village_years", "code"), e)
			}
		default:
			err = &baocun.Error{Code: baocun.ENOTFOUND, Message: "只能导入 departments、villages、people 或 village_years: no such import " + kind}
		}
		if err != nil {
			c.Set(ctxAudited, false)
			Error(c, err)
			return
		}
		c.JSON(http.StatusOK, importResult{Imported: len(t.Rows)})
	}
}

type importResult struct {
	Imported int `json:"imported"`
}

// uploadedFile reads the file from a multipart field "file" or the raw body, under
// the route's limit.
func uploadedFile(c *gin.Context) ([]byte, string, error) {
	body, err := readBody(c)
	if err != nil {
		return nil, "", err
	}
	ct := c.ContentType()
	if ct != "multipart/form-data" {
		return body, ct, nil
	}
	form, err := readForm(c, body)
	if err != nil {
		return nil, "", err
	}
	defer form.RemoveAll()
	return formFile(form)
}

// readForm parses a multipart body already read (so under its limit) in memory.
func readForm(c *gin.Context, body []byte) (*multipart.Form, error) {
	_, params, err := mime.ParseMediaType(c.GetHeader("Content-Type"))
	if err != nil || params["boundary"] == "" {
		return nil, fieldError("file", "multipart 表单缺少 boundary The multipart form has no boundary in its Content-Type.")
	}
	// Everything fits in memory: the body is there already, and no temporary file is made.
	form, err := multipart.NewReader(bytes.NewReader(body), params["boundary"]).ReadForm(int64(len(body)) + 1)
	if err != nil {
		return nil, fieldError("file", "multipart 表单无法读取 The multipart form cannot be read: "+err.Error())
	}
	return form, nil
}

// formFile is the form's field "file" and its media type.
func formFile(form *multipart.Form) ([]byte, string, error) {
	files := form.File["file"]
	if len(files) == 0 {
		return nil, "", &baocun.Error{Code: baocun.EINVALID, Message: "缺少文件字段 file The multipart form needs a field \"file\".",
			Fields: map[string]string{"file": "required"}}
	}
	f, err := files[0].Open()
	if err != nil {
		return nil, "", err
	}
	defer f.Close()
	data, err := io.ReadAll(f)
	return data, files[0].Header.Get("Content-Type"), err
}

// handleListDepartments lists the directory's departments, a page at a time.
func handleListDepartments(store Store) gin.HandlerFunc {
	return func(c *gin.Context) {
		limit, err := limitParam(c)
		if err != nil {
			Error(c, err)
			return
		}
		ds, err := store.Departments(c.Request.Context(), c.Query("county"), c.Query("cursor"), limit+1)
		if err != nil {
			Error(c, err)
			return
		}
		c.JSON(http.StatusOK, pageOf(ds, limit, func(d baocun.Department) string { return d.Code }))
	}
}

// handleListVillages lists villages, of one county with ?county=.
func handleListVillages(store Store) gin.HandlerFunc {
	return func(c *gin.Context) {
		limit, err := limitParam(c)
		if err != nil {
			Error(c, err)
			return
		}
		unpaired := false
		switch c.Query("unpaired") {
		case "", "0", "false":
		case "1", "true":
			unpaired = true
		default:
			Error(c, fieldError("unpaired", "unpaired: 须为 1 或 0 must be 1 or 0"))
			return
		}
		vs, err := store.Villages(c.Request.Context(), c.Query("county"), unpaired, c.Query("cursor"), limit+1)
		if err != nil {
			Error(c, err)
			return
		}
		c.JSON(http.StatusOK, pageOf(vs, limit, func(v baocun.Village) string { return v.Code }))
	}
}

// pageOf cuts a result fetched with limit+1 rows into a page and its next cursor.
func pageOf[T any](items []T, limit int, key func(T) string) page[T] {
	if len(items) > limit {
		return page[T]{Items: items[:limit], NextCursor: key(items[limit-1])}
	}
	return page[T]{Items: items}
}

// One record of the directory is created or updated (PUT, by its code) through the
// same parsing and validation as an import of one row: the JSON object's fields are
// the file's columns, and an error names the field.

// recordRow turns a JSON object and the path's code into a one-row table; the
// object's fields must be the JSON fields of shape (a directory record type).
func recordRow(c *gin.Context, key string, shape any) (*baocun.Table, error) {
	var fields map[string]any
	if err := decodeJSON(c, &fields); err != nil {
		return nil, err
	}
	known := map[string]bool{}
	rt := reflect.TypeOf(shape)
	for i := range rt.NumField() {
		name, _, _ := strings.Cut(rt.Field(i).Tag.Get("json"), ",")
		known[name] = true
	}
	t := &baocun.Table{HeaderLine: 0, Header: []string{key}, Rows: []baocun.Row{{Line: 1, Cells: []string{c.Param(key)}}}}
	for name, v := range fields {
		if !known[name] {
			return nil, fieldError(name, fmt.Sprintf("%s: 没有这个字段 unknown field %q", name, name))
		}
		if name == key {
			if fmt.Sprint(v) != c.Param(key) {
				return nil, fieldError(key, fmt.Sprintf("%s: 与地址中的 %q 不一致 does not match the path's %q", key, c.Param(key), c.Param(key)))
			}
			continue
		}
		var s string
		switch v := v.(type) {
		case string:
			s = v
		case float64, bool:
			s = fmt.Sprint(v)
		case nil:
		default:
			return nil, fieldError(name, name+": 须为文字或数字 must be text or a number")
		}
		t.Header = append(t.Header, name)
		t.Rows[0].Cells = append(t.Rows[0].Cells, s)
	}
	return t, nil
}

func handlePutDepartment(store Store) gin.HandlerFunc {
	return putRecord(func(c *gin.Context, e *baocun.AuditEntry) (any, error) {
		t, err := recordRow(c, "code", baocun.Department{})
		if err != nil {
			return nil, err
		}
		ds, err := baocun.ParseDepartments(t)
		if err != nil {
			return nil, err
		}
		return ds[0], store.ImportDepartments(c.Request.Context(), ds, e)
	})
}

func handlePutVillage(store Store) gin.HandlerFunc {
	return putRecord(func(c *gin.Context, e *baocun.AuditEntry) (any, error) {
		t, err := recordRow(c, "code", baocun.Village{})
		if err != nil {
			return nil, err
		}
		vs, err := baocun.ParseVillages(t)
		if err != nil {
			return nil, err
		}
		if err := store.ImportVillages(c.Request.Context(), vs, e); err != nil {
			return nil, err
		}
		return store.Village(c.Request.Context(), vs[0].Code) // as stored: what it left out kept
	})
}

func handlePutPerson(store Store) gin.HandlerFunc {
	return putRecord(func(c *gin.Context, e *baocun.AuditEntry) (any, error) {
		t, err := recordRow(c, "id", baocun.Person{})
		if err != nil {
			return nil, err
		}
		ps, err := baocun.ParsePeople(t)
		if err != nil {
			return nil, err
		}
		return ps[0], store.ImportPeople(c.Request.Context(), ps, []int{1}, "department_code", e)
	})
}

// putRecord runs one record's upsert with the request's audit entry and answers
// with the record as stored.
func putRecord(put func(c *gin.Context, e *baocun.AuditEntry) (any, error)) gin.HandlerFunc {
	return func(c *gin.Context) {
		e := auditEntry(c, http.StatusOK, nil)
		rec, err := put(c, e)
		if err != nil {
			c.Set(ctxAudited, false)
			Error(c, err)
			return
		}
		c.JSON(http.StatusOK, rec)
	}
}

// cityRecord is the loader of a directory record's PUT: a record can move to any
// county or department (and so change who may act for it), so creating or changing
// one is the city's to do, like an import.
func cityRecord(kind, param string) loader {
	return func(c *gin.Context) (Resource, error) {
		return Resource{Name: kind + "/" + c.Param(param), Jurisdiction: baocun.CityJurisdiction}, nil
	}
}

// villageResource loads the village in the path.
func villageResource(store Store) loader {
	return func(c *gin.Context) (Resource, error) {
		v, err := store.Village(c.Request.Context(), c.Param("code"))
		if err != nil {
			return Resource{}, err
		}
		c.Set(ctxRecord, v)
		return Resource{Name: "villages/" + v.Code, Jurisdiction: v.County, Village: v.Code}, nil
	}
}

// personResource loads the person in the path: their department decides who sees them.
func personResource(store Store) loader {
	return func(c *gin.Context) (Resource, error) {
		p, err := store.Person(c.Request.Context(), c.Param("id"))
		if err != nil {
			return Resource{}, err
		}
		d, err := store.Department(c.Request.Context(), p.DepartmentCode)
		if err != nil {
			return Resource{}, err
		}
		c.Set(ctxRecord, p)
		return Resource{Name: "people/" + p.ID, Jurisdiction: d.Jurisdiction(), Department: d.Code}, nil
	}
}

// handleGetRecord answers with the record the loader found.
func handleGetRecord() gin.HandlerFunc {
	return func(c *gin.Context) {
		v, _ := c.Get(ctxRecord)
		c.JSON(http.StatusOK, v)
	}
}

// handleVillageHistory answers a village over time: its years to whoever reads the
// directory, its pairings only to those who may read each pairing (the policy's
// pairing read, decided on each).
func handleVillageHistory(d Deps) gin.HandlerFunc {
	return func(c *gin.Context) {
		ctx := c.Request.Context()
		h, err := d.Store.VillageHistory(ctx, c.Param("code"))
		if err != nil {
			Error(c, err)
			return
		}
		shown, readable := h.Pairings[:0], map[int64]bool{}
		for _, vp := range h.Pairings {
			p, err := d.Store.Pairing(ctx, vp.PairingID)
			if err != nil {
				Error(c, err)
				return
			}
			dec, err := decide(ctx, d.Authorizer, route{object: "pairing", action: "read"}, currentUser(c), pairingAsResource(p))
			if err != nil {
				Error(c, err)
				return
			}
			if dec.Allowed {
				shown = append(shown, vp)
				readable[vp.PairingID] = true
			}
		}
		h.Pairings = shown
		// A contact leader's visits, of the pairings the caller may read.
		h.CountVisits(func(id int64) bool { return readable[id] })
		c.JSON(http.StatusOK, h)
	}
}

// handleAddContact registers a leader's contact village (领导联系点).
func handleAddContact(store Store) gin.HandlerFunc {
	return func(c *gin.Context) {
		var in baocun.LeaderContactInput
		if !readValid(c, &in) {
			return
		}
		e := auditEntry(c, http.StatusCreated, nil)
		lc, err := store.AddLeaderContact(c.Request.Context(), baocun.LeaderContact{VillageCode: c.Param("code"), Leader: strings.TrimSpace(in.Leader),
			Title: in.Title, Level: in.Level, RegisteredBy: currentUser(c).Username}, e)
		if err != nil {
			c.Set(ctxAudited, false)
			Error(c, err)
			return
		}
		c.JSON(http.StatusCreated, lc)
	}
}
