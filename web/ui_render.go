package web

import (
	"encoding/json"
	"fmt"
	"html/template"
	"maps"
	"reflect"
	"slices"
	"strings"
	"time"

	"github.com/shopspring/decimal"

	"baocun"
)

// pageNames are the page templates, each a file of ui/templates defining "content".
var pageNames = []string{"login", "error", "dashboard", "inbox", "launch", "pairing", "results", "audit", "users", "password", "publicity", "bulletin", "notifications"}

// parsePages parses every page once for each language: the template functions that
// render text are bound to the language, so templates say {{tr "登录" "Sign in"}}.
func parsePages() (map[string]map[string]*template.Template, error) {
	out := map[string]map[string]*template.Template{}
	for _, lang := range []string{langZH, langEN} {
		base, err := template.New("").Funcs(templateFuncs(lang)).ParseFS(uiFiles, "ui/templates/layout.html", "ui/templates/forms.html")
		if err != nil {
			return nil, err
		}
		out[lang] = map[string]*template.Template{}
		for _, name := range pageNames {
			t, err := template.Must(base.Clone()).ParseFS(uiFiles, "ui/templates/"+name+".html")
			if err != nil {
				return nil, err
			}
			out[lang][name] = t
		}
	}
	return out, nil
}

func templateFuncs(lang string) template.FuncMap {
	return template.FuncMap{
		"tr":    func(zh, en string) template.HTML { return bilingual(lang, zh, en) },
		"tra":   func(zh, en string) string { return plain(lang, zh, en) },
		"pair":  func(s string) template.HTML { return pairOf(lang, s) },
		"named": func(p [2]string) template.HTML { return bilingual(lang, p[0], p[1]) },
		// stage, task and role take the typed values and the plain strings of the
		// audit trail and the timeline's data alike.
		"stage":   func(s any) template.HTML { return stageName(lang, baocun.Stage(text(s))) },
		"task":    func(k any) template.HTML { return named(lang, baocun.TaskKindNames, baocun.TaskKind(text(k))) },
		"role":    func(r any) template.HTML { return named(lang, roleNames, baocun.Role(text(r))) },
		"status":  func(s string) template.HTML { return named(lang, statusNames, s) },
		"event":   func(k string) template.HTML { return named(lang, eventNames, k) },
		"project": func(k string) template.HTML { return named(lang, projectNames, k) },
		"field":   func(k string) template.HTML { return named(lang, dataNames, k) },
		"kind":    func(k string) template.HTML { return named(lang, kindNames, k) },
		"time":    formatTime,
		"dec":     formatDecimal,
		"jurisdiction": func(j string) template.HTML {
			if j == baocun.CityJurisdiction {
				return bilingual(lang, "全市", "city-wide")
			}
			return template.HTML(template.HTMLEscapeString(j))
		},
		"overdue":   func(t baocun.Task) bool { return t.Status == baocun.TaskOpen && t.DueAt.Before(time.Now()) },
		"projects":  func() []string { return baocun.ProjectKinds },
		"units":     func() []string { return baocun.ProjectUnits },
		"roles":     func() []baocun.Role { return baocun.Roles },
		"stages":    func() []baocun.Stage { return baocun.Stages },
		"add":       func(a, b int) int { return a + b },
		"lower":     strings.ToLower,
		"langzh":    func() bool { return lang == langZH },
		"eventData": eventData,
		"dict":      dict,
		"filesOf":   filesOf,
		"deref":     func(b *bool) bool { return b != nil && *b },
		"list":      func(xs ...string) []string { return xs },
		"truncate":  truncate,
		"grade": func(g string) template.HTML {
			if n, ok := baocun.GradeNames[g]; ok {
				return pairOf(lang, n)
			}
			return template.HTML(template.HTMLEscapeString(g))
		},
	}
}

// text is a named string's value (a Stage, a Role, a plain string), "" for anything
// else: a template that passes the wrong thing renders nothing rather than "<nil>".
func text(v any) string {
	if rv := reflect.ValueOf(v); rv.Kind() == reflect.String {
		return rv.String()
	}
	return ""
}

// pairOf renders one of the module's "中文 English" strings.
func pairOf(lang, s string) template.HTML {
	zh, en := split(s)
	return bilingual(lang, zh, en)
}

// formatTime shows a real time in China time, to the minute.
func formatTime(t any) string {
	switch v := t.(type) {
	case time.Time:
		if v.IsZero() {
			return ""
		}
		return v.In(baocun.ChinaTime).Format("2006-01-02 15:04")
	case *time.Time:
		if v == nil {
			return ""
		}
		return formatTime(*v)
	}
	return fmt.Sprint(t)
}

// formatDecimal shows an exact decimal, or "—" for a missing one.
func formatDecimal(d any) string {
	switch v := d.(type) {
	case decimal.Decimal:
		return v.String()
	case *decimal.Decimal:
		if v == nil {
			return "—"
		}
		return v.String()
	case *int:
		if v == nil {
			return "—"
		}
		return fmt.Sprint(*v)
	}
	return fmt.Sprint(d)
}

// field is one entry of an event's data, for the timeline.
type field struct{ Key, Value string }

// eventData flattens an event's JSON data to key–value pairs, nested values as
// compact JSON, so the timeline shows what each step carried.
func eventData(e baocun.Event) []field {
	var m map[string]any
	if len(e.Data) == 0 || json.Unmarshal(e.Data, &m) != nil {
		return nil
	}
	var out []field
	for _, k := range slices.Sorted(maps.Keys(m)) {
		if k == "files" || k == "evidence" {
			continue // shown as the event's files
		}
		v := m[k]
		var s string
		switch x := v.(type) {
		case string:
			s = x
		case nil:
			continue
		case map[string]any: // a report within its event: its files are shown as the event's
			delete(x, "files")
			b, _ := json.Marshal(x)
			s = string(b)
		default:
			b, _ := json.Marshal(x)
			s = string(b)
		}
		if s == "" || s == "{}" || s == "[]" {
			continue
		}
		out = append(out, field{k, s})
	}
	return out
}

// filesOf is the files of ids that byID holds (those the user may read), in ids' order.
func filesOf(byID map[string]baocun.File, ids []string) []baocun.File {
	var out []baocun.File
	for _, id := range ids {
		if f, ok := byID[id]; ok {
			out = append(out, f)
		}
	}
	return out
}

// dict builds a map from key–value pairs, to hand a template more than one value.
func dict(kv ...any) map[string]any {
	m := map[string]any{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[fmt.Sprint(kv[i])] = kv[i+1]
	}
	return m
}

// truncate shortens s to n characters, marking the cut.
func truncate(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n]) + "…"
}
