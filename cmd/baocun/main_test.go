package main

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// The test binary doubles as the baocun binary: with BAOCUN_TEST_AS_MAIN set it runs
// main, so the tests can start, kill and restart real processes without a separate
// build.
func TestMain(m *testing.M) {
	if os.Getenv("BAOCUN_TEST_AS_MAIN") == "1" {
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// process is a `baocun serve` child process.
type process struct {
	cmd      *exec.Cmd
	url      string // http://host:port/
	temporal string // embedded frontend host:port
	banner   []string
	started  time.Time
	stderr   *lockedBuffer
	done     chan struct{}
}

var (
	urlLine      = regexp.MustCompile(`is serving at (http://\S+/)`)
	temporalLine = regexp.MustCompile(`Temporal \(embedded\): (\S+),`)
)

// startServe starts `baocun serve` with args and waits until it prints its URL.
func startServe(t testing.TB, args ...string) *process {
	t.Helper()
	return startServeEnv(t, nil, args...)
}

// startServeEnv is startServe with extra environment variables.
func startServeEnv(t testing.TB, env []string, args ...string) *process {
	t.Helper()
	return startCommand(t, "serve", env, args...)
}

// startCommand starts `baocun <command>` (serve, or temporal) and waits until its
// banner ends with the Ctrl-C line, reading the addresses it prints.
func startCommand(t testing.TB, command string, env []string, args ...string) *process {
	t.Helper()
	cmd := exec.Command(os.Args[0], append([]string{command}, args...)...)
	cmd.Env = append(append(os.Environ(), "BAOCUN_TEST_AS_MAIN=1"), env...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	p := &process{cmd: cmd, stderr: &lockedBuffer{}, done: make(chan struct{})}
	cmd.Stderr = p.stderr
	p.started = time.Now()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { cmd.Wait(); close(p.done) }()
	t.Cleanup(func() { p.kill() })

	found := make(chan struct{})
	go func() {
		// The banner ends with the Ctrl-C line; the test reads it only after that,
		// and this goroutine never touches it again.
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			p.banner = append(p.banner, sc.Text())
			if m := urlLine.FindStringSubmatch(sc.Text()); m != nil {
				p.url = m[1]
			}
			if m := temporalLine.FindStringSubmatch(sc.Text()); m != nil {
				p.temporal = m[1]
			}
			if strings.Contains(sc.Text(), "Ctrl-C") {
				close(found)
				break
			}
		}
		io.Copy(io.Discard, stdout)
	}()
	select {
	case <-found:
	case <-p.done:
		t.Fatalf("baocun %s exited before serving: %s", command, p.stderr)
	case <-time.After(60 * time.Second):
		t.Fatalf("baocun %s printed no banner in 60s: %s", command, p.stderr)
	}
	return p
}

// waitReady polls /readyz until it answers 200 and returns how long after the
// process started that was.
func (p *process) waitReady(t testing.TB) time.Duration {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		req, _ := http.NewRequestWithContext(ctx, "GET", p.url+"readyz", nil)
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return time.Since(p.started)
			}
		}
		select {
		case <-ctx.Done():
			t.Fatalf("/readyz not 200 within 60s: %s", p.stderr)
		case <-p.done:
			t.Fatalf("baocun serve exited: %s", p.stderr)
		case <-tick.C:
		}
	}
}

// kill sends SIGKILL: no shutdown code runs, as in a power cut of the process.
func (p *process) kill() {
	p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.done
}

// stop sends SIGTERM and waits for a graceful exit.
func (p *process) stop(t testing.TB) {
	t.Helper()
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(60 * time.Second):
		t.Fatalf("no exit 60s after SIGTERM: %s", p.stderr)
	}
	if code := p.cmd.ProcessState.ExitCode(); code != 0 {
		t.Fatalf("exit code %d after SIGTERM: %s", code, p.stderr)
	}
}

// lockedBuffer collects a child's output while the test reads it.
type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuffer) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(b)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
