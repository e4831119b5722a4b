package web_test

import (
	"bytes"
	"context"
	"mime/multipart"
	"strings"
	"testing"

	"baocun/sqldb/sqldbtest"
)

// A cycle launches from the pairings file beside its settings (multipart), with the
// file's Chinese headings; a bad file or bad settings is refused with the line and
// column or the field, and stores nothing.
func TestLaunchFromFile(t *testing.T) {
	f := newFixture(t, sqldbtest.SQLiteDSN(t))
	f.user("org", "", "", g("organiser", "*"))
	tok := f.login(f.srv, "org")
	form := func(settings, file string) (string, []byte) {
		var b bytes.Buffer
		w := multipart.NewWriter(&b)
		w.WriteField("settings", settings)
		if file != "" {
			fw, _ := w.CreateFormFile("file", "pairings.csv")
			fw.Write([]byte(file))
		}
		w.Close()
		return w.FormDataContentType(), b.Bytes()
	}
	cycles := func() int {
		var n int
		f.db.QueryRowContext(context.Background(), "SELECT COUNT(*) FROM cycles").Scan(&n)
		return n
	}
	before := cycles()
	settings := `{"name":"第二轮 second","jurisdiction":"县A","start_date":"2030-01-01","years":3,"period_months":6}`
	bad := []struct{ name, settings, file, want string }{
		{"unknown department on line 3", settings, "部门编码,村编码,类型\nD3,V1,包扶\nD404,V9,共建\n",
			`"line":3,"column":"department_code"`},
		{"a kind neither 包扶 nor 共建", settings, "department_code,village_code,kind\nD3,V1,帮扶\n", `"line":2,"column":"kind"`},
		{"settings not JSON", `{"name":`, "department_code,village_code,kind\nD3,V1,包扶\n", `"settings"`},
		{"pairings twice", `{"name":"x","jurisdiction":"县A","start_date":"2030-01-01","pairings":[{"department_code":"D3","village_code":"V1","kind":"support"}]}`,
			"department_code,village_code,kind\nD3,V1,包扶\n", `"pairings"`},
		{"no file", settings, "", `"file"`},
		{"a period that does not divide the year", strings.Replace(settings, `"period_months":6`, `"period_months":5`, 1),
			"department_code,village_code,kind\nD3,V1,包扶\n", `"period_months"`},
	}
	for _, c := range bad {
		ct, body := form(c.settings, c.file)
		if s, b := post(t, f, tok, "/api/v1/cycles", ct, body); s < 400 || s >= 500 || !strings.Contains(b, c.want) {
			t.Errorf("%s: %d %s, want a 4xx with %s", c.name, s, b, c.want)
		}
	}
	if n := cycles(); n != before {
		t.Fatalf("refused launches stored %d cycles", n-before)
	}
	ct, body := form(settings, "部门编码,村编码,类型\nD3,V1,包扶\n")
	if s, b := post(t, f, tok, "/api/v1/cycles", ct, body); s != 201 || !strings.Contains(b, `"pairings":1`) {
		t.Fatalf("launch from a file: %d %s", s, b)
	}
	if n := cycles(); n != before+1 {
		t.Fatalf("%d cycles stored, want 1", n-before)
	}
}
