// Package apiclient is a Go client of Baocun's HTTP API (/api/v1): a typed call for
// each route; every human step sent under an Idempotency-Key (the client's, WithKey,
// or one of its own) and sent again under it when no answer came or the engine was
// unavailable (503), so it is taken once; and a request refused with 429 sent again
// after the Retry-After the service names. Errors the API answers
// with are *Error, with the HTTP status and the API's code, message and fields.
//
// The demo, the end-to-end and fault tests and the benchmarks play every role
// through it; so may anyone integrating with Baocun from Go. Of this module it
// imports only the root package, for the domain types the API speaks.
package apiclient

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"baocun"
)

// Client is a client of one Baocun service, signed in as one user or not at all.
// A Client is safe for concurrent use; WithKey, At and SignIn make new ones that
// share its *http.Client (and so its connections).
type Client struct {
	base  string // the service's URL, ending in "/"
	hc    *http.Client
	user  string // the signed-in username, for messages
	token string
	key   string // an Idempotency-Key sent with each request (WithKey)
}

// New is a client, not signed in, of the service at base (http://host:port/, with
// or without the final slash). hc carries its requests and those of every client
// made from it; nil is NewHTTPClient().
func New(base string, hc *http.Client) *Client {
	if hc == nil {
		hc = NewHTTPClient()
	}
	return &Client{base: slashed(base), hc: hc}
}

// slashed is base ending in "/", as paths are joined to it.
func slashed(base string) string {
	if !strings.HasSuffix(base, "/") {
		base += "/"
	}
	return base
}

// NewHTTPClient is an *http.Client for many players polling one service at once:
// enough idle connections for dozens of them, and a minute for any one answer.
func NewHTTPClient() *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConns, tr.MaxIdleConnsPerHost = 256, 256
	return &http.Client{Transport: tr, Timeout: 60 * time.Second}
}

// WithKey is this client sending every request under the Idempotency-Key k: a step
// sent again under the same key (by a client that lost the first answer) gets the
// first one's answer and is taken once. Use a new key for each step meant.
func (c *Client) WithKey(k string) *Client {
	cp := *c
	cp.key = k
	return &cp
}

// At is this client, signed in as it is, talking to the service at base instead:
// another instance of one cluster, or the same service restarted on a new port.
// Instances sharing a database share sessions.
func (c *Client) At(base string) *Client {
	cp := *c
	cp.base = slashed(base)
	return &cp
}

// WithToken is this client signed in as username with a session token got some
// other way than SignIn (made by an operator's tool, say): no sign-in, no password.
func (c *Client) WithToken(username, token string) *Client {
	return &Client{base: c.base, hc: c.hc, user: username, token: token}
}

// Username is the signed-in user's name, "" for a client not signed in.
func (c *Client) Username() string { return c.user }

// Error is an answer other than 2xx, with the error body the API gives it
// ({"error":{"code","message","fields","rows"}}).
type Error struct {
	Method, Path string // the request: path relative to the service's URL
	Status       int    // the HTTP status
	// Code is the API's error code (baocun.EINVALID, ECONFLICT, …); "" when the body
	// was not the API's (a proxy's page, say), whose text is then the Message.
	Code    string
	Message string            // for people: Chinese first, English beside it
	Fields  map[string]string // the request's fields at fault and what is wrong with each
	Rows    []baocun.RowError // a rejected file or launch: what is wrong, line by line
}

// Error is the request, the status, the code and the message on one line.
func (e *Error) Error() string {
	return fmt.Sprintf("%s %s: %d %s: %s", e.Method, e.Path, e.Status, e.Code, e.Message)
}

// StatusOf is the HTTP status of a call the service refused (an *Error anywhere in
// err's chain), 0 for any other error and for nil.
func StatusOf(err error) int {
	var ae *Error
	if errors.As(err, &ae) {
		return ae.Status
	}
	return 0
}

// file is a request body sent as it is, with its media type: a directory workbook.
type file struct {
	data        []byte
	contentType string
}

// do sends one request: in as JSON (a string is sent as CSV, a file as it is), out
// decoded from the JSON answer when not nil.
func (c *Client) do(ctx context.Context, method, path string, in, out any) error {
	data, err := c.send(ctx, method, path, in)
	if err != nil {
		return err
	}
	if out != nil && len(data) > 0 {
		if err := json.Unmarshal(data, out); err != nil {
			return fmt.Errorf("%s %s: answer: %w", method, path, err)
		}
	}
	return nil
}

// Download is a GET of path, relative to the service's URL (api/v1/…, with its
// query), answered with the body as it came: an export, or any route this package
// has no typed call for.
func (c *Client) Download(ctx context.Context, path string) ([]byte, error) {
	return c.send(ctx, "GET", path, nil)
}

// send sends one request and returns the body of a 2xx answer; any other answer is
// an *Error. A 429 (a sign-in throttle, the password slots busy) was not acted
// on: send waits the Retry-After it names and sends again, a few times at most, as
// a careful client does. Nothing else is sent again: whether a step that got no
// answer was taken is for the caller to find out, or to send again under its
// Idempotency-Key.
func (c *Client) send(ctx context.Context, method, path string, in any) ([]byte, error) {
	var payload []byte
	ct := ""
	switch v := in.(type) {
	case nil:
	case string:
		payload, ct = []byte(v), "text/csv"
	case file:
		payload, ct = v.data, v.contentType
	default:
		b, err := json.Marshal(v)
		if err != nil {
			return nil, err
		}
		payload, ct = b, "application/json"
	}
	for attempt := 1; ; attempt++ {
		data, wait, err := c.sendOnce(ctx, method, path, payload, ct)
		if wait == 0 || attempt == maxTooMany {
			return data, err
		}
		select {
		case <-ctx.Done():
			return nil, err
		case <-time.After(wait):
		}
	}
}

// maxTooMany is how many times send tries a request that hears 429.
const maxTooMany = 5

// sendOnce sends the request once; wait is the Retry-After of a 429, else 0.
func (c *Client) sendOnce(ctx context.Context, method, path string, payload []byte, ct string) (data []byte, wait time.Duration, err error) {
	var body io.Reader
	if payload != nil {
		body = bytes.NewReader(payload)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, body)
	if err != nil {
		return nil, 0, err
	}
	if ct != "" {
		req.Header.Set("Content-Type", ct)
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	if c.key != "" {
		req.Header.Set("Idempotency-Key", c.key)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, 0, noAnswer{err}
	}
	defer resp.Body.Close()
	data, err = io.ReadAll(resp.Body)
	if err != nil {
		return nil, 0, err
	}
	if resp.StatusCode/100 != 2 {
		e := &Error{Method: method, Path: path, Status: resp.StatusCode}
		var eb struct {
			Error struct {
				Code    string            `json:"code"`
				Message string            `json:"message"`
				Fields  map[string]string `json:"fields"`
				Rows    []baocun.RowError `json:"rows"`
			} `json:"error"`
		}
		if json.Unmarshal(data, &eb) == nil {
			e.Code, e.Message, e.Fields, e.Rows = eb.Error.Code, eb.Error.Message, eb.Error.Fields, eb.Error.Rows
		} else {
			e.Message = strings.TrimSpace(string(data))
		}
		if resp.StatusCode == http.StatusTooManyRequests {
			if secs, perr := strconv.Atoi(resp.Header.Get("Retry-After")); perr == nil && secs >= 0 {
				wait = min(time.Duration(max(secs, 1))*time.Second, time.Minute)
			}
		}
		return nil, wait, e
	}
	return data, 0, nil
}

// noAnswer is a request that got no answer (the connection failed or timed out):
// whether the service acted on it is unknown.
type noAnswer struct{ err error }

func (e noAnswer) Error() string { return e.err.Error() }
func (e noAnswer) Unwrap() error { return e.err }

// list reads every page of a list route ({"items","next_cursor"}); q is its query,
// which list does not change.
func list[T any](ctx context.Context, c *Client, path string, q url.Values) ([]T, error) {
	q2 := url.Values{}
	for k, v := range q {
		q2[k] = v
	}
	var all []T
	for {
		var page struct {
			Items      []T    `json:"items"`
			NextCursor string `json:"next_cursor"`
		}
		p := path
		if len(q2) > 0 {
			p += "?" + q2.Encode()
		}
		if err := c.do(ctx, "GET", p, nil, &page); err != nil {
			return nil, err
		}
		all = append(all, page.Items...)
		if page.NextCursor == "" {
			return all, nil
		}
		q2.Set("cursor", page.NextCursor)
	}
}

// get is a GET of one resource decoded into a new T.
func get[T any](ctx context.Context, c *Client, path string) (*T, error) {
	var v T
	if err := c.do(ctx, "GET", path, nil, &v); err != nil {
		return nil, err
	}
	return &v, nil
}

// withLimit is q (copied) with limit n unless q names one: a new list route is read
// in pages as large as the API allows.
func withLimit(q url.Values, n int) url.Values {
	out := url.Values{}
	for k, v := range q {
		out[k] = v
	}
	if out.Get("limit") == "" {
		out.Set("limit", strconv.Itoa(n))
	}
	return out
}

// Ready reports whether the service's /readyz answers 200: every dependency up.
func (c *Client) Ready(ctx context.Context) bool {
	req, err := http.NewRequestWithContext(ctx, "GET", c.base+"readyz", nil)
	if err != nil {
		return false
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}
