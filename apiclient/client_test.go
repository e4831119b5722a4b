package apiclient

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"baocun"
)

// A 429 was not acted on: the client waits the Retry-After it names and sends the
// same request again (a sign-in throttled while a city's accounts sign in at once),
// and gives up after a few, with the 429 as its error.
func TestAPIClientWaitsOutTooMany(t *testing.T) {
	if testing.Short() {
		t.Skip("the full run's (Retry-After waits): go test ./...")
	}
	var calls atomic.Int32
	var refuse atomic.Int32
	refuse.Store(2)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		if string(b) != `{"password":"p","username":"u"}` {
			t.Errorf("attempt %d sent %q", calls.Load()+1, b)
		}
		if calls.Add(1) <= refuse.Load() {
			w.Header().Set("Retry-After", "0")
			w.WriteHeader(http.StatusTooManyRequests)
			w.Write([]byte(`{"error":{"code":"too_many","message":"登录尝试次数过多"}}`))
			return
		}
		w.Write([]byte(`{"token":"t"}`))
	}))
	defer srv.Close()
	c := New(srv.URL+"/", NewHTTPClient())
	got, err := c.SignIn(context.Background(), "u", "p")
	if err != nil || got.token != "t" || got.Username() != "u" || calls.Load() != 3 {
		t.Fatalf("after two 429s: %v, %d requests", err, calls.Load())
	}
	calls.Store(0)
	refuse.Store(100)
	_, err = c.SignIn(context.Background(), "u", "p")
	var ae *Error
	if !errors.As(err, &ae) || ae.Status != http.StatusTooManyRequests || StatusOf(err) != http.StatusTooManyRequests || calls.Load() != maxTooMany {
		t.Fatalf("always 429: %v after %d requests, want the 429 after %d", err, calls.Load(), maxTooMany)
	}
}

// A step that meets a 503 (the engine away) or no answer at all is sent again under
// one Idempotency-Key — the client's own when it was given none — until it is
// answered; a refusal (409) is not sent again; and the attempts are bounded.
func TestStepsAreSentAgainUnderOneKey(t *testing.T) {
	stepRetryWait = time.Millisecond
	t.Cleanup(func() { stepRetryWait = time.Second })
	var mu sync.Mutex // the handler's goroutine and the test's share keys and answers
	var keys []string
	var answers []int // statuses to answer with, in order; 0 drops the connection
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		keys = append(keys, r.Header.Get("Idempotency-Key"))
		status := answers[0]
		answers = answers[1:]
		mu.Unlock()
		switch status {
		case 0:
			hj, _ := w.(http.Hijacker)
			conn, _, _ := hj.Hijack()
			conn.Close()
		case 200:
			w.Write([]byte(`{"stage":"planning","request_id":"r1"}`))
		default:
			w.WriteHeader(status)
			w.Write([]byte(`{"error":{"code":"x","message":"m"}}`))
		}
	}))
	defer srv.Close()
	ctx := context.Background()
	c := New(srv.URL, nil)

	set := func(a ...int) {
		mu.Lock()
		defer mu.Unlock()
		keys, answers = nil, a
	}
	sent := func() []string {
		mu.Lock()
		defer mu.Unlock()
		return append([]string(nil), keys...)
	}
	set(503, 0, 200)
	res, err := c.SubmitPlan(ctx, 1, baocun.PlanInput{})
	got := sent()
	if err != nil || res.Stage != "planning" || len(got) != 3 || got[0] == "" || got[1] != got[0] || got[2] != got[0] {
		t.Fatalf("503, no answer, 200: %+v, %v, keys %q; want taken on the third, one key", res, err, got)
	}
	first := got[0]
	set(409)
	if _, err := c.SubmitPlan(ctx, 1, baocun.PlanInput{}); StatusOf(err) != 409 || len(sent()) != 1 || sent()[0] == first {
		t.Fatalf("409: %v, keys %q; want the refusal at once, under a new key", err, sent())
	}
	set(503, 503, 503, 503, 503, 503)
	if _, err := c.WithKey("mine").SubmitPlan(ctx, 1, baocun.PlanInput{}); StatusOf(err) != 503 || len(sent()) != stepAttempts || sent()[0] != "mine" {
		t.Fatalf("503 throughout: %v, keys %q; want %d attempts under the client's key", err, sent(), stepAttempts)
	}
}
