package web_test

import (
	"testing"

	"baocun"
	"baocun/web"
)

// Every error code the module has, which the engine may pass on from a workflow's
// refusal, has its one HTTP status.
func TestEveryCodeHasAStatus(t *testing.T) {
	for _, code := range baocun.Codes() {
		if web.StatusOf[code] == 0 {
			t.Errorf("code %q has no HTTP status", code)
		}
	}
	if len(web.StatusOf) != len(baocun.Codes()) {
		t.Errorf("%d statuses for %d codes", len(web.StatusOf), len(baocun.Codes()))
	}
}
