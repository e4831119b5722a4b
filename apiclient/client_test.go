package apiclient

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
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
