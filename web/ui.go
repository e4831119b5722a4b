package web

import (
	"bytes"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"baocun"
)

// The web UI is server-rendered pages over the JSON API. Every read a page makes is
// an API request served in-process on the same engine with the visitor's own
// cookie, and every write is the browser's own request to the API (ui.js sends JSON
// with the CSRF header): the UI has exactly the API's authorization and audit trail,
// because it has no other way in. Whether a page shows a button is asked of the same
// route table, resource loaders and Authorizer that gate the API (ui.can).

//go:embed ui/templates ui/static
var uiFiles embed.FS

// ui serves the pages.
type ui struct {
	api    http.Handler // the engine the API is served on
	authz  baocun.Authorizer
	routes map[string]route // "METHOD /path" → the API route
	pages  map[string]map[string]*template.Template
}

// mountUI adds the pages and their static files to r, which already serves the API.
func mountUI(r *gin.Engine, d Deps) {
	u := &ui{api: r, authz: d.Authorizer, routes: map[string]route{}}
	for _, rt := range apiRoutes(d) {
		u.routes[rt.method+" "+rt.path] = rt
	}
	var err error
	if u.pages, err = parsePages(); err != nil {
		panic(err) // the templates are embedded: a test parses them
	}
	static, _ := fs.Sub(uiFiles, "ui/static")
	files := http.StripPrefix("/static/", http.FileServer(http.FS(static)))
	r.GET("/static/*file", func(c *gin.Context) {
		c.Header("Cache-Control", "public, max-age=3600")
		files.ServeHTTP(c.Writer, c.Request)
	})
	r.GET("/login", u.loginPage)
	if d.PublicPublicity {
		pp := &publicPages{ui: u, store: d.Store, held: map[int64]publicEntry{}, now: time.Now}
		r.GET("/publicity/:cycle", pp.serve)
	}
	for path, h := range map[string]pageFunc{
		"/":                               u.dashboard,
		"/inbox":                          u.inbox,
		"/launch":                         u.launch,
		"/pairings/:id":                   u.pairing,
		"/cycles/:id/results":             u.results,
		"/cycles/:id/bulletins/:bulletin": u.bulletin,
		"/audit":                          u.audit,
		"/users":                          u.users,
		"/password":                       u.password,
		"/notifications":                  u.notifications,
	} {
		r.GET(path, u.page(h))
	}
	// A browser that follows a bad link gets a page; the API's clients get JSON.
	r.NoRoute(func(c *gin.Context) {
		path := c.Request.URL.Path
		if strings.HasPrefix(path, "/api/") || !strings.Contains(c.GetHeader("Accept"), "text/html") {
			writeError(c, http.StatusNotFound, "not_found", "没有这个地址 No such path: "+path)
			return
		}
		v := &view{Lang: pickLang(c), Path: path, c: c, ui: u}
		u.renderError(c, v, &apiError{Status: http.StatusNotFound, errorDetail: errorDetail{Code: baocun.ENOTFOUND, Message: "没有这个页面 No such page: " + path}})
	})
}

// view is what every page template gets: the language, the signed-in user, the
// CSRF token for ui.js, the menu, and the page's own data.
type view struct {
	Lang  string
	Path  string // the page's path and query, for the language switch
	Title [2]string
	User  *baocun.User
	CSRF  string
	Nav   []navItem
	Data  any
	// Unread is how many of the user's notifications are unread: the bell's count.
	Unread int

	c  *gin.Context
	ui *ui
}

type navItem struct {
	Href    string
	Name    [2]string
	Current bool
}

// pageFunc loads a page's data through the API: the template's name and its data.
type pageFunc func(v *view) (string, any, error)

// page makes a pageFunc a handler: it signs the visitor in through GET /auth/me (or
// sends them to the sign-in page), builds the menu from what they may use, and
// renders the page or the API's refusal.
func (u *ui) page(h pageFunc) gin.HandlerFunc {
	return func(c *gin.Context) {
		v := &view{Lang: pickLang(c), Path: c.Request.URL.Path, c: c, ui: u}
		toLogin := "/login?next=" + url.QueryEscape(c.Request.URL.RequestURI())
		if _, err := c.Cookie(SessionCookie); err != nil {
			// No session at all: straight to the sign-in page, leaving the audit
			// trail to what the API refuses (a stale or forged session).
			c.Redirect(http.StatusSeeOther, toLogin)
			return
		}
		var who struct {
			baocun.User
			CSRFToken string `json:"csrf_token"`
		}
		if err := u.get(c, "/auth/me", &who); err != nil {
			var ae *apiError
			if errors.As(err, &ae) && ae.Status == http.StatusUnauthorized {
				c.Redirect(http.StatusSeeOther, toLogin)
				return
			}
			u.renderError(c, v, err)
			return
		}
		v.User, v.CSRF = &who.User, who.CSRFToken
		if v.User.MustChangePassword && c.Request.URL.Path != "/password" {
			// The API refuses such an account everything else: say why at once.
			c.Redirect(http.StatusSeeOther, "/password")
			return
		}
		v.Nav = u.nav(v)
		var bell struct {
			Unread int `json:"unread"`
		}
		if u.get(c, "/notifications?limit=1&unread=1", &bell) == nil { // a bell that cannot be read shows none
			v.Unread = bell.Unread
		}
		name, data, err := h(v)
		switch {
		case err != nil:
			u.renderError(c, v, err)
		case name != "": // else the handler redirected
			v.Data = data
			u.render(c, v, http.StatusOK, name)
		}
	}
}

// nav is the menu: only what the user's roles may open.
func (u *ui) nav(v *view) []navItem {
	var items []navItem
	add := func(href, zh, en string, ok bool) {
		if ok {
			items = append(items, navItem{Href: href, Name: [2]string{zh, en}, Current: v.Path == href})
		}
	}
	add("/", "概览", "Dashboard", v.can("GET", "/cycles"))
	add("/inbox", "我的待办", "My tasks", true)
	add("/launch", "启动新一轮", "Launch a cycle", v.canLaunch())
	add("/audit", "审计查询", "Audit", v.can("GET", "/audit"))
	add("/users", "用户与角色", "Users and roles", v.can("GET", "/users"))
	return items
}

func (u *ui) render(c *gin.Context, v *view, status int, name string) {
	t := u.pages[v.Lang][name]
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, "layout", v); err != nil {
		c.Error(err)
		c.String(http.StatusInternalServerError, "内部错误 Internal error")
		return
	}
	setPageHeaders(c)
	c.Data(status, "text/html; charset=utf-8", buf.Bytes())
}

// setPageHeaders: pages load only their own scripts and styles, and are never framed.
func setPageHeaders(c *gin.Context) {
	c.Header("Content-Security-Policy", "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; frame-ancestors 'none'; base-uri 'self'; form-action 'self'")
	c.Header("X-Content-Type-Options", "nosniff")
	c.Header("Referrer-Policy", "same-origin")
	c.Header("Cache-Control", "no-store")
}

// renderError shows the API's refusal (403, 404 …) with its status and message, or
// an internal error.
func (u *ui) renderError(c *gin.Context, v *view, err error) {
	v.Title = [2]string{"无法完成", "That did not work"}
	var ae *apiError
	if !errors.As(err, &ae) {
		c.Error(err)
		ae = &apiError{Status: http.StatusInternalServerError, errorDetail: errorDetail{Code: baocun.EINTERNAL, Message: "内部错误 Internal error."}}
	}
	v.Data = ae.errorDetail
	u.render(c, v, ae.Status, "error")
}

// loginPage is the sign-in form; a visitor already signed in goes on to next.
func (u *ui) loginPage(c *gin.Context) {
	v := &view{Lang: pickLang(c), Path: c.Request.URL.Path, c: c, ui: u}
	next := localPath(c.Query("next"))
	if _, err := c.Cookie(SessionCookie); err == nil && u.get(c, "/auth/me", &baocun.User{}) == nil {
		c.Redirect(http.StatusSeeOther, next)
		return
	}
	v.Data, v.Title = next, [2]string{"登录", "Sign in"}
	u.render(c, v, http.StatusOK, "login")
}

// apiError is the API's error answer to an in-process request.
type apiError struct {
	Status int
	errorDetail
}

func (e *apiError) Error() string { return fmt.Sprintf("%d %s: %s", e.Status, e.Code, e.Message) }

// get serves GET /api/v1+path in-process as the visitor (their cookie, address and
// user agent, so the audit trail records them as for any request) and decodes the
// answer into out, or returns the API's refusal as an *apiError.
func (u *ui) get(c *gin.Context, path string, out any) error {
	req, err := http.NewRequestWithContext(c.Request.Context(), http.MethodGet, "/api/v1"+path, nil)
	if err != nil {
		return err
	}
	for _, h := range []string{"Cookie", "User-Agent", "X-Forwarded-For", "X-Real-Ip"} {
		if vs := c.Request.Header.Values(h); len(vs) > 0 {
			req.Header[h] = vs
		}
	}
	req.RemoteAddr = c.Request.RemoteAddr
	w := &recorder{header: http.Header{}, status: http.StatusOK}
	u.api.ServeHTTP(w, req)
	if w.status >= 400 {
		var b errorBody
		json.Unmarshal(w.body.Bytes(), &b) // a body of another shape leaves the status alone to tell
		if b.Error.Message == "" {
			b.Error.Message = http.StatusText(w.status)
		}
		return &apiError{Status: w.status, errorDetail: b.Error}
	}
	if err := json.Unmarshal(w.body.Bytes(), out); err != nil {
		return fmt.Errorf("GET %s: %w", path, err)
	}
	return nil
}

// recorder is the response of an in-process API request.
type recorder struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (w *recorder) Header() http.Header         { return w.header }
func (w *recorder) Write(b []byte) (int, error) { return w.body.Write(b) }
func (w *recorder) WriteHeader(status int)      { w.status = status }

// can reports whether the API would let the signed-in user call method pattern (as
// routes.go spells it, e.g. "POST", "/pairings/:id/team") with the path's params in
// order: the route's own loader finds the resource in the database, and the
// Authorizer decides as authorize does. A route not in the table is never allowed,
// so a button for an API still to come stays hidden. The API checks again when the
// button is used.
func (v *view) can(method, pattern string, params ...string) bool {
	return v.canWith(method, pattern, "", params...)
}

// canWith is can with a JSON request body, for a loader that reads the body.
func (v *view) canWith(method, pattern, body string, params ...string) bool {
	pattern, query, _ := strings.Cut(pattern, "?") // a query the loader reads: /files?pairing=1
	rt, ok := v.ui.routes[method+" "+pattern]
	if !ok || v.User == nil {
		return false
	}
	if rt.public || rt.object == "" {
		return true
	}
	target := "/api/v1" + pattern
	if query != "" {
		target += "?" + query
	}
	req, err := http.NewRequestWithContext(v.c.Request.Context(), method, target, strings.NewReader(body))
	if err != nil {
		return false
	}
	req.Header.Set("Content-Type", "application/json")
	// A bare context is enough for a loader: it reads the path's params, the query
	// and the body, and keeps what it loaded in the context's keys.
	gc := &gin.Context{Request: req}
	for _, seg := range strings.Split(pattern, "/") {
		if name, ok := strings.CutPrefix(seg, ":"); ok && len(params) > 0 {
			gc.Params = append(gc.Params, gin.Param{Key: name, Value: params[0]})
			params = params[1:]
		}
	}
	res, err := rt.resource(gc)
	if err != nil {
		return false
	}
	d, err := decide(v.c.Request.Context(), v.ui.authz, rt, v.User, res)
	return err == nil && d.Allowed
}

// canLaunch reports whether the user may launch a cycle in any jurisdiction they hold a role in.
func (v *view) canLaunch() bool {
	for _, g := range v.User.Roles {
		body, _ := json.Marshal(map[string]string{"jurisdiction": g.Jurisdiction})
		if v.canWith("POST", "/cycles", string(body)) {
			return true
		}
	}
	return false
}

// redirect ends a page with a redirect.
func (v *view) redirect(to string) (string, any, error) {
	v.c.Redirect(http.StatusSeeOther, to)
	return "", nil, nil
}
