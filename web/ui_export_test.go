package web

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// UIFiles are the UI's embedded templates and static files.
var UIFiles = uiFiles

// The UI shows an action only when can finds its route in the table: a route
// renamed there would silently hide its button. Every route the UI's code names
// must be one of the API's.
func TestUIRoutesExist(t *testing.T) {
	known := map[string]bool{}
	for _, rt := range apiRoutes(Deps{}) {
		known[rt.method+" "+rt.path] = true
	}
	for _, f := range taskForms {
		if !known["POST "+f.route] {
			t.Errorf("taskForms: no route POST %s", f.route)
		}
	}
	for _, r := range bulkRoutes {
		if !known["POST "+r] {
			t.Errorf("bulkRoutes: no route POST %s", r)
		}
	}
	asked := regexp.MustCompile(`can(?:With)?\("(GET|POST|PUT|DELETE)", "([^"]+)"`)
	files, _ := filepath.Glob("ui*.go")
	n := 0
	for _, name := range files {
		src, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range asked.FindAllStringSubmatch(string(src), -1) {
			n++
			if path, _, _ := strings.Cut(m[2], "?"); !known[m[1]+" "+path] {
				t.Errorf("%s asks about %s %s, which is not a route", name, m[1], m[2])
			}
		}
	}
	if n < 10 {
		t.Fatalf("found only %d permission checks in ui*.go: is the pattern stale?", n)
	}
}
