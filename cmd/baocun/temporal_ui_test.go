package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"

	"baocun"
	"baocun/workflows"
)

var temporalUILine = regexp.MustCompile(`Temporal UI \(只读 read-only\): (http://[^/\s]+/)`)

// With --temporal-ui, serve runs the Temporal Web UI on its own loopback listener,
// which the banner names: its page answers, it reads the embedded frontend through
// the operator's certificate (the namespace, a running workflow), and it refuses to
// change anything. SIGTERM stops it with the service.
func TestTemporalUIServesTheEmbeddedServerReadOnly(t *testing.T) {
	dir := t.TempDir()
	p := startServe(t, "--data-dir", dir, "--http", "127.0.0.1:0", "--temporal-port", "0", "--temporal-ui", "127.0.0.1:0")
	m := temporalUILine.FindStringSubmatch(strings.Join(p.banner, "\n"))
	if m == nil {
		t.Fatalf("the banner does not name the Temporal UI:\n%s", strings.Join(p.banner, "\n"))
	}
	ui := m[1]
	p.waitReady(t)

	get := func(path string) (int, string) {
		t.Helper()
		resp, err := http.Get(ui + path)
		if err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body)
	}
	if code, body := get(""); code != 200 || !strings.Contains(body, "<html") {
		t.Fatalf("GET /: %d, want 200 and the UI's page: %.300s", code, body)
	}
	var settings struct {
		DisableWriteActions bool
		DefaultNamespace    string
	}
	if code, body := get("api/v1/settings"); code != 200 || json.Unmarshal([]byte(body), &settings) != nil ||
		!settings.DisableWriteActions || settings.DefaultNamespace != baocun.DefaultNamespace {
		t.Fatalf("GET /api/v1/settings: %d %.300s, want write actions disabled and namespace %s", code, body, baocun.DefaultNamespace)
	}

	// Through to the frontend: the service's namespace.
	var namespaces struct {
		Namespaces []struct {
			NamespaceInfo struct{ Name string }
		}
	}
	pollUI(t, p, "the UI lists namespace "+baocun.DefaultNamespace, func() (bool, string) {
		code, body := get("api/v1/namespaces")
		namespaces.Namespaces = nil
		if code != 200 || json.Unmarshal([]byte(body), &namespaces) != nil {
			return false, body
		}
		for _, ns := range namespaces.Namespaces {
			if ns.NamespaceInfo.Name == baocun.DefaultNamespace {
				return true, ""
			}
		}
		return false, body
	})

	// A running workflow is listed, and a write action on it is refused by the UI.
	c := dial(t, dir, p.temporal)
	defer c.Close()
	ctx := context.Background()
	run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: "probe-temporal-ui", TaskQueue: baocun.TaskQueue},
		workflows.Probe, workflows.ProbeInput{Wait: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	list := "api/v1/namespaces/" + baocun.DefaultNamespace + "/workflows?query=" + url.QueryEscape(`WorkflowId="`+run.GetID()+`"`)
	pollUI(t, p, "the UI lists workflow "+run.GetID(), func() (bool, string) {
		code, body := get(list)
		var listed struct {
			Executions []struct {
				Execution struct{ WorkflowID string }
			}
		}
		if code != 200 || json.Unmarshal([]byte(body), &listed) != nil {
			return false, body
		}
		return len(listed.Executions) == 1 && listed.Executions[0].Execution.WorkflowID == run.GetID(), body
	})
	// What the UI's pages read, each allowed to the operator's certificate.
	ns := "api/v1/namespaces/" + baocun.DefaultNamespace
	for _, path := range []string{"api/v1/cluster-info", "api/v1/system-info", ns, ns + "/workflows/" + run.GetID(),
		ns + "/workflow-count", ns + "/search-attributes"} {
		if code, body := get(path); code != 200 {
			t.Errorf("GET /%s: %d, want 200: %.300s", path, code, body)
		}
	}
	terminate := ui + "api/v1/namespaces/" + baocun.DefaultNamespace + "/workflows/" + run.GetID() + "/terminate"
	for name, header := range map[string]http.Header{
		// Without a token the CSRF check refuses it; with an Authorization header that
		// check is skipped, and the UI's own write lock refuses it.
		"no CSRF token":        {},
		"Authorization header": {"Authorization": {"Bearer anything"}},
	} {
		req, _ := http.NewRequest("POST", terminate, bytes.NewReader([]byte(`{"reason":"from the UI"}`)))
		req.Header = header
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		t.Logf("POST terminate (%s): %d %.100s", name, resp.StatusCode, bytes.TrimSpace(body))
		if resp.StatusCode < 400 || resp.StatusCode >= 500 {
			t.Errorf("POST terminate (%s): %d %.200s, want a refusal", name, resp.StatusCode, body)
		}
		if name == "Authorization header" && resp.StatusCode != http.StatusMethodNotAllowed {
			t.Errorf("POST terminate (%s): %d %.200s, want 405 from the disabled write actions", name, resp.StatusCode, body)
		}
	}
	desc, err := c.DescribeWorkflowExecution(ctx, run.GetID(), "")
	if err != nil {
		t.Fatal(err)
	}
	if s := desc.GetWorkflowExecutionInfo().GetStatus(); s != enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING {
		t.Fatalf("workflow %s after the refused terminate, want running", s)
	}

	// A request addressed to another name (DNS rebinding to 127.0.0.1) is refused.
	req, _ := http.NewRequest("GET", ui+"api/v1/namespaces", nil)
	req.Host = "baocun.example.com"
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("GET with Host %s: %d, want 403", req.Host, resp.StatusCode)
	}

	p.stop(t)
	if _, err := http.Get(ui); err == nil {
		t.Errorf("the Temporal UI still answers after serve stopped")
	}
}

// pollUI calls cond every 200 ms (the frontend allows a namespace 10 visibility
// requests a second) until it holds, failing the test after 30 s (with what cond last
// said) or when serve exits.
func pollUI(t *testing.T, p *process, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.NewTimer(30 * time.Second)
	defer deadline.Stop()
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for {
		ok, last := cond()
		if ok {
			return
		}
		select {
		case <-deadline.C:
			t.Fatalf("%s: not within 30s; last: %.500s\n%s", what, last, p.stderr)
		case <-p.done:
			t.Fatalf("baocun serve exited: %s", p.stderr)
		case <-tick.C:
		}
	}
}

// --temporal-ui takes a loopback address only, and only for the embedded server:
// anything else is a usage error, before anything is written. It is off by default.
func TestTemporalUIFlag(t *testing.T) {
	var bad []badInput
	for _, addr := range []string{"0.0.0.0:8233", ":8233", "[::]:8233", "192.0.2.10:8233", "baocun.example.com:8233", "8233", "127.0.0.1:http"} {
		bad = append(bad, badInput{
			name: "--temporal-ui " + addr,
			args: func(dir string) []string {
				return []string{"--data-dir", dir, "--http", "127.0.0.1:0", "--temporal-ui", addr}
			},
			want: []string{"--temporal-ui", addr}, code: 2,
		})
	}
	bad = append(bad, badInput{
		name: "--temporal-ui with --temporal-address",
		args: func(dir string) []string {
			return []string{"--data-dir", dir, "--http", "127.0.0.1:0", "--temporal-address", "127.0.0.1:7233", "--temporal-ui", "127.0.0.1:8233"}
		},
		want: []string{"--temporal-ui", "--temporal-address"}, code: 2,
	})
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) { checkBadInput(t, tt) })
	}
	for _, addr := range []string{"", "127.0.0.1:8233", "127.0.0.2:0", "[::1]:8233", "localhost:8233", "LOCALHOST:8233"} {
		var cfg serveConfig
		args := []string{"--data-dir", t.TempDir()}
		if addr != "" {
			args = append(args, "--temporal-ui", addr)
		}
		if err := parseFlags(newServeFlags(&cfg), args, func(string) string { return "" }, io.Discard); err != nil {
			t.Fatal(err)
		}
		if err := cfg.validate(); err != nil {
			t.Errorf("--temporal-ui %q: %v", addr, err)
		}
		if cfg.TemporalUI != addr {
			t.Errorf("--temporal-ui %q: got %q", addr, cfg.TemporalUI)
		}
	}
}
