package web_test

import (
	"encoding/json"
	"strings"
	"testing"

	"baocun/web"
)

// The OpenAPI document describes every route with the permission it needs.
func TestOpenAPIDescribesEveryRoute(t *testing.T) {
	resp, body := get(t, newServer(), "/api/openapi.json")
	if resp.StatusCode != 200 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	var doc struct {
		OpenAPI string                               `json:"openapi"`
		Paths   map[string]map[string]map[string]any `json:"paths"`
	}
	if err := json.Unmarshal([]byte(body), &doc); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(doc.OpenAPI, "3.") {
		t.Fatalf("openapi %q", doc.OpenAPI)
	}
	for _, r := range web.RouteList() {
		method, path, _ := strings.Cut(r, " ")
		segs := strings.Split(path, "/")
		for i, s := range segs {
			if strings.HasPrefix(s, ":") {
				segs[i] = "{" + s[1:] + "}"
			}
		}
		op := doc.Paths["/api/v1"+strings.Join(segs, "/")][strings.ToLower(method)]
		if op == nil {
			t.Errorf("%s is not in the document", r)
			continue
		}
		if _, public := op["security"]; !public && op["x-baocun-permission"] == nil {
			t.Errorf("%s does not say what permission it needs", r)
		}
	}
	if !strings.Contains(body, `"username"`) || !strings.Contains(body, `"granted"`) {
		t.Errorf("request/response schemas missing fields")
	}
	// A route that reads a body names its limit and the 413 beyond it; a file's routes their 422.
	for path, want := range map[string]float64{"/api/v1/cycles": 8 << 20, "/api/v1/import/{kind}": 8 << 20, "/api/v1/pairings/{id}/plan": 512 << 10, "/api/v1/users": 64 << 10} {
		op := doc.Paths[path]["post"]
		if op["x-baocun-max-body"] != want || op["responses"].(map[string]any)["413"] == nil {
			t.Errorf("POST %s: x-baocun-max-body %v, want %v, and a 413", path, op["x-baocun-max-body"], want)
		}
		if _, file := op["responses"].(map[string]any)["422"]; file != (want == 8<<20) {
			t.Errorf("POST %s: a 422 for a refused file: %v", path, file)
		}
	}
	// An upload is described as what it is: multipart, its part "file", its pairing in
	// the query, 413 and 415 for what is refused.
	upload := doc.Paths["/api/v1/files"]["post"]
	if b, _ := json.Marshal(upload); !strings.Contains(string(b), `"multipart/form-data":{"schema":{"properties":{"file":{"format":"binary"`) ||
		!strings.Contains(string(b), `"name":"pairing"`) || !strings.Contains(string(b), `"415"`) || !strings.Contains(string(b), `"413"`) {
		t.Errorf("POST /files is not described as a multipart upload: %s", b)
	}
	// Steps take an Idempotency-Key; other changes do not.
	for path, want := range map[string]bool{"/api/v1/pairings/{id}/decisions": true, "/api/v1/cycles/{id}/commendations/approval": true, "/api/v1/cycles": false} {
		params, _ := json.Marshal(doc.Paths[path]["post"]["parameters"])
		if got := strings.Contains(string(params), `"Idempotency-Key"`); got != want {
			t.Errorf("POST %s takes an Idempotency-Key: %v, want %v (%s)", path, got, want, params)
		}
	}
	// A stage, a role and a task kind are one of their type's values.
	for _, enum := range []string{`"enum":["dispatch","stationed","planning","reviews","acceptance","publicity","closed","cancelled"]`,
		`"enum":["admin","organiser","reviewer","dept_lead","team_member","village","auditor"]`, `"score_acceptance"`} {
		if !strings.Contains(body, enum) {
			t.Errorf("the document has no %s", enum)
		}
	}
}
