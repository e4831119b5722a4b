package web

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"

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

// maxImportBytes bounds an uploaded directory file: the city's whole village list
// is well under a megabyte.
const maxImportBytes = 32 << 20

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
				err = store.ImportPeople(ctx, ps, lines, baocun.PeopleHeading(t, "department_code"), e)
			}
		default:
			err = &baocun.Error{Code: baocun.ENOTFOUND, Message: "只能导入 departments、villages 或 people: no such import " + kind}
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

// uploadedFile reads the file from a multipart field "file" or the raw body.
func uploadedFile(c *gin.Context) ([]byte, string, error) {
	c.Request.Body = http.MaxBytesReader(c.Writer, c.Request.Body, maxImportBytes)
	ct := c.ContentType()
	if ct == "multipart/form-data" {
		fh, err := c.FormFile("file")
		if err != nil {
			return nil, "", &baocun.Error{Code: baocun.EINVALID, Message: "缺少文件字段 file The multipart form needs a field \"file\": " + err.Error(),
				Fields: map[string]string{"file": "required"}}
		}
		f, err := fh.Open()
		if err != nil {
			return nil, "", err
		}
		defer f.Close()
		data, err := io.ReadAll(f)
		return data, fh.Header.Get("Content-Type"), err
	}
	data, err := io.ReadAll(c.Request.Body)
	if err != nil {
		return nil, "", &baocun.Error{Code: baocun.EINVALID, Message: fmt.Sprintf("文件过大或读取失败 The file could not be read (at most %d MiB): %v", maxImportBytes>>20, err)}
	}
	return data, ct, nil
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
		vs, err := store.Villages(c.Request.Context(), c.Query("county"), c.Query("cursor"), limit+1)
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
