package web

import (
	"net/http"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"baocun"
)

// openAPI builds the OpenAPI 3 description of the API from the route table, so the
// document cannot drift from the routes: each operation names the permission it
// needs (x-baocun-permission) and its request and response shapes come from the
// handlers' own Go types.
func openAPI(routes []route) map[string]any {
	paths := map[string]map[string]any{}
	for _, rt := range routes {
		p := ginPathToOpenAPI("/api/v1" + rt.path)
		if paths[p] == nil {
			paths[p] = map[string]any{}
		}
		op := map[string]any{
			"summary":     rt.summary,
			"operationId": strings.ToLower(rt.method) + strings.NewReplacer("/", "_", ":", "", "{", "", "}", "").Replace(rt.path),
			"responses":   responses(rt),
		}
		switch {
		case rt.public:
			op["security"] = []any{}
		case rt.object == "":
			op["x-baocun-permission"] = "signed in"
		default:
			op["x-baocun-permission"] = rt.object + "." + rt.action
		}
		var params []any
		for _, seg := range strings.Split(rt.path, "/") {
			if name, ok := strings.CutPrefix(seg, ":"); ok {
				params = append(params, map[string]any{"name": name, "in": "path", "required": true, "schema": map[string]any{"type": "string"}})
			}
		}
		if rt.upload {
			params = append(params, map[string]any{"name": "pairing", "in": "query", "required": true, "schema": map[string]any{"type": "integer"},
				"description": "文件所属结对 the pairing the file is evidence of"})
			op["requestBody"] = map[string]any{"required": true, "content": map[string]any{
				"multipart/form-data": map[string]any{"schema": map[string]any{"type": "object", "required": []any{"file"},
					"properties": map[string]any{"file": map[string]any{"type": "string", "format": "binary"}}}},
			}}
		}
		if _, step := rt.out.(baocun.StepResult); step {
			params = append(params, map[string]any{"name": idempotencyKey, "in": "header", "required": false, "schema": map[string]any{"type": "string", "maxLength": 255},
				"description": "同一请求重发时带同一键，只办理一次 Send a repeated step under the same key: it is taken once and answered alike"})
		}
		if len(params) > 0 {
			op["parameters"] = params
		}
		if rt.method != http.MethodGet {
			op["x-baocun-max-body"] = rt.bodyLimit()
		}
		if rt.in != nil {
			op["requestBody"] = map[string]any{"required": true, "content": map[string]any{
				"application/json": map[string]any{"schema": schemaOf(reflect.TypeOf(rt.in))},
			}}
		}
		paths[p][strings.ToLower(rt.method)] = op
	}
	return map[string]any{
		"openapi": "3.0.3",
		"info": map[string]any{
			"title":       "Baocun 部门包村 API",
			"version":     "1",
			"description": "部门包村工作流程与考核 — the department–village pairing programme. Errors are {\"error\":{\"code\",\"message\",\"fields\"}}; lists are {\"items\",\"next_cursor\"}.",
		},
		"servers":  []any{map[string]any{"url": "/"}},
		"security": []any{map[string]any{"bearer": []any{}}, map[string]any{"session": []any{}}},
		"paths":    paths,
		"components": map[string]any{
			"securitySchemes": map[string]any{
				"bearer":  map[string]any{"type": "http", "scheme": "bearer"},
				"session": map[string]any{"type": "apiKey", "in": "cookie", "name": SessionCookie},
			},
			"schemas": map[string]any{"Error": schemaOf(reflect.TypeOf(errorBody{}))},
		},
	}
}

func responses(rt route) map[string]any {
	errRef := map[string]any{"description": "错误 error", "content": map[string]any{
		"application/json": map[string]any{"schema": map[string]any{"$ref": "#/components/schemas/Error"}}}}
	ok := map[string]any{"description": "成功 success"}
	if rt.out != nil {
		ok["content"] = map[string]any{"application/json": map[string]any{"schema": schemaOf(reflect.TypeOf(rt.out))}}
	}
	status := http.StatusOK
	if rt.status != 0 {
		status = rt.status
	}
	out := map[string]any{strconv.Itoa(status): ok, "400": errRef}
	if rt.method != http.MethodGet {
		out["413"] = map[string]any{"description": "请求体超过本接口的上限（x-baocun-max-body 字节） the body is over the route's limit (x-baocun-max-body bytes)",
			"content": errRef["content"]}
	}
	if rt.upload {
		out["415"] = map[string]any{"description": "文件类型不被接受（按内容判断） the file's type, sniffed from its content, is not taken",
			"content": errRef["content"]}
	}
	if rt.maxBody >= bodyFile && !rt.upload {
		out["422"] = map[string]any{"description": "文件被拒，error.rows 逐行列出 the file is refused: its problems, or the limit it broke, in error.rows",
			"content": errRef["content"]}
	}
	if !rt.public {
		out["401"] = errRef
		out["403"] = errRef
	}
	return out
}

// ginPathToOpenAPI turns /users/:username into /users/{username}.
func ginPathToOpenAPI(p string) string {
	segs := strings.Split(p, "/")
	for i, s := range segs {
		if name, ok := strings.CutPrefix(s, ":"); ok {
			segs[i] = "{" + name + "}"
		}
	}
	return strings.Join(segs, "/")
}

var timeType = reflect.TypeOf(time.Time{})

// enums are the values of the module's named string types.
var enums = map[reflect.Type][]string{
	reflect.TypeOf(baocun.Stage("")):    names(baocun.Stages),
	reflect.TypeOf(baocun.TaskKind("")): names(baocun.TaskKinds),
	reflect.TypeOf(baocun.Role("")):     names(baocun.Roles),
}

func names[T ~string](xs []T) []string {
	out := make([]string, len(xs))
	for i, x := range xs {
		out[i] = string(x)
	}
	return out
}

// schemaOf describes a Go type the way encoding/json renders it.
func schemaOf(t reflect.Type) map[string]any {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch {
	case t == timeType:
		return map[string]any{"type": "string", "format": "date-time"}
	case enums[t] != nil:
		return map[string]any{"type": "string", "enum": enums[t]}
	case t.Kind() == reflect.String:
		return map[string]any{"type": "string"}
	case t.Kind() == reflect.Bool:
		return map[string]any{"type": "boolean"}
	case t.Kind() >= reflect.Int && t.Kind() <= reflect.Uint64:
		return map[string]any{"type": "integer"}
	case t.Kind() == reflect.Float32 || t.Kind() == reflect.Float64:
		return map[string]any{"type": "number"}
	case t.Kind() == reflect.Slice:
		return map[string]any{"type": "array", "items": schemaOf(t.Elem())}
	case t.Kind() == reflect.Map:
		return map[string]any{"type": "object", "additionalProperties": schemaOf(t.Elem())}
	case t.Kind() == reflect.Struct:
		props := map[string]any{}
		for i := range t.NumField() {
			f := t.Field(i)
			if !f.IsExported() {
				continue
			}
			name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			if name == "-" {
				continue
			}
			if f.Anonymous && name == "" {
				// encoding/json lifts an untagged embedded struct's fields.
				for k, v := range schemaOf(f.Type)["properties"].(map[string]any) {
					props[k] = v
				}
				continue
			}
			if name == "" {
				name = f.Name
			}
			props[name] = schemaOf(f.Type)
		}
		return map[string]any{"type": "object", "properties": props}
	}
	return map[string]any{}
}

func handleOpenAPI(doc map[string]any) gin.HandlerFunc {
	return func(c *gin.Context) { c.JSON(http.StatusOK, doc) }
}
