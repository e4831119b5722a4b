package web_test

import (
	"fmt"
	"net/http/httptest"
	"testing"

	"github.com/gin-gonic/gin"

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

// sqlStateError is a database driver's error as pgx gives it: a SQLSTATE.
type sqlStateError string

func (e sqlStateError) Error() string    { return "database: " + string(e) }
func (e sqlStateError) SQLState() string { return string(e) }

// A database that refuses a connection (too many clients, shutting down) makes the
// service unavailable for a moment, not broken: 503, so a client tries again; any
// other failure of the database is still a 500. (The scale path's city benchmark met
// the first answered 500.)
func TestDatabaseRefusalIsUnavailable(t *testing.T) {
	gin.SetMode(gin.ReleaseMode)
	for state, want := range map[string]int{"53300": 503, "08006": 503, "57P03": 503, "23505": 500, "42P01": 500} {
		w := httptest.NewRecorder()
		c, _ := gin.CreateTestContext(w)
		web.Error(c, fmt.Errorf("query: %w", &pgconnLike{sqlStateError(state)}))
		if w.Code != want {
			t.Errorf("SQLSTATE %s: %d, want %d", state, w.Code, want)
		}
	}
}

// pgconnLike wraps the SQLSTATE error as pgconn.ConnectError wraps a PgError.
type pgconnLike struct{ err error }

func (e *pgconnLike) Error() string { return "connect: " + e.err.Error() }
func (e *pgconnLike) Unwrap() error { return e.err }
