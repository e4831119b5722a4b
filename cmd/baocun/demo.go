package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"time"

	"baocun/apiclient"
	"baocun/cmd/baocun/demo"
)

// `baocun demo` runs a whole compressed cycle end to end: it starts the service in
// this process on a fresh data dir, imports a sample directory, creates an account
// for every role, launches a cycle whose three years pass in at most 90 s, and plays
// every role through the HTTP API — each player polls its inbox and acts on its
// tasks — until every pairing is in acceptance. Then it prints the outcome and the
// audit verification.

// demoConfig is every setting of `baocun demo`.
type demoConfig struct {
	Minutes  float64
	DataDir  string
	Villages int
}

func newDemoFlags(c *demoConfig) *flag.FlagSet {
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	fs.Float64Var(&c.Minutes, "minutes", 2, "演示总时长上限（分钟） the most the whole demo may take, in minutes; the three years run in at most 90 s of it")
	fs.StringVar(&c.DataDir, "data-dir", "", "数据目录 data directory, new or empty (default: a temporary one, removed afterwards)")
	fs.IntVar(&c.Villages, "villages", 10, fmt.Sprintf("结对行政村数 how many villages to pair (%d–%d)", demo.MinVillages, demo.MaxVillages()))
	return fs
}

// demoCommand is `baocun demo`.
func demoCommand(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	started := time.Now()
	var cfg demoConfig
	if err := parseFlags(newDemoFlags(&cfg), args, getenv, stdout); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	if cfg.Minutes < 1 || cfg.Minutes > 60 || math.IsNaN(cfg.Minutes) {
		return &usageError{fmt.Sprintf("demo: --minutes %g: want 1–60", cfg.Minutes)}
	}
	if cfg.Villages < demo.MinVillages || cfg.Villages > demo.MaxVillages() {
		return &usageError{fmt.Sprintf("demo: --villages %d: want %d–%d", cfg.Villages, demo.MinVillages, demo.MaxVillages())}
	}
	sample, err := demo.NewSample(cfg.Villages)
	if err != nil {
		return err
	}
	deadline := started.Add(time.Duration(cfg.Minutes * float64(time.Minute)))

	dir, temporary := cfg.DataDir, cfg.DataDir == ""
	if temporary {
		if dir, err = os.MkdirTemp("", "baocun-demo-"); err != nil {
			return err
		}
	} else if err := checkNewDataDir(dir); err != nil {
		return err
	}
	logPath := filepath.Join(dir, "demo-serve.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		return fmt.Errorf("demo: %v", unwrapPath(err))
	}
	password := randomPassword()
	fmt.Fprintf(stdout, "包村演示 Baocun demo: %d 个行政村 villages, %d 个部门 departments, 2 个县 counties — 每个角色都通过 HTTP API 操作 every role plays through the HTTP API\n",
		cfg.Villages, len(sample.Departments))
	fmt.Fprintf(stdout, "启动服务 Starting the service (数据目录 data dir %s, 服务日志 service log %s) …\n", dir, logPath)

	srv, err := startDemoServer(ctx, dir, password, getenv, logFile)
	if err == nil {
		fmt.Fprintf(stdout, "服务就绪 Service ready at %s after %s\n", srv.url, since(started))
		anon := apiclient.New(srv.url, apiclient.NewHTTPClient())
		err = demo.Run(ctx, stdout, sample, anon, password, deadline)
		if serr := srv.stop(); serr != nil && err == nil {
			err = serr
		}
	}
	logFile.Close()
	if err != nil {
		fmt.Fprintf(stdout, "演示失败 The demo failed after %s; 数据与服务日志保留在 the data and the service log are kept in %s\n", since(started), dir)
		return err
	}
	if temporary {
		os.RemoveAll(dir)
	} else {
		fmt.Fprintf(stdout, "数据保留在 The data is kept in %s: baocun serve --data-dir %s; 演示账号密码 every demo account's password (admin, organiser, auditor, …): %s\n",
			dir, dir, password)
	}
	fmt.Fprintf(stdout, "演示完成 Demo complete in %s.\n", since(started))
	return nil
}

// checkNewDataDir refuses a data dir that already holds a database: the demo's
// accounts and cycle belong on a new one.
func checkNewDataDir(dir string) error {
	for _, f := range []string{"baocun.db", "temporal.db"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err == nil {
			return &usageError{fmt.Sprintf("demo: --data-dir %s already holds %s; the demo needs a new or empty data dir", dir, f)}
		}
	}
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return fmt.Errorf("demo: data dir %s: %v", dir, unwrapPath(err))
	}
	return nil
}

func randomPassword() string {
	buf := make([]byte, 18)
	rand.Read(buf)
	return base64.RawURLEncoding.EncodeToString(buf)
}

// demoServer is `baocun serve` running in this process.
type demoServer struct {
	url    string
	cancel context.CancelFunc
	done   chan error
}

// servingURL finds the service's address in serve's banner.
var servingURL = regexp.MustCompile(`is serving at (http://\S+/)`)

// startDemoServer runs serve on dir with free ports and the admin password given,
// and waits until it is ready. Its logs go to log.
func startDemoServer(ctx context.Context, dir, password string, getenv func(string) string, log io.Writer) (*demoServer, error) {
	sctx, cancel := context.WithCancel(ctx)
	s := &demoServer{cancel: cancel, done: make(chan error, 1)}
	env := func(k string) string {
		if k == EnvAdminPassword {
			return password
		}
		return getenv(k)
	}
	banner, out := io.Pipe()
	go func() {
		err := serve(sctx, []string{"--data-dir", dir, "--http", "127.0.0.1:0", "--temporal-port", "0", "--public-publicity"}, env, out, log)
		out.Close()
		s.done <- err
	}()
	found := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(banner)
		for sc.Scan() {
			if m := servingURL.FindStringSubmatch(sc.Text()); m != nil {
				found <- m[1]
			}
		}
		io.Copy(io.Discard, banner)
	}()
	fail := func(err error) (*demoServer, error) {
		s.stop()
		return nil, err
	}
	select {
	case s.url = <-found:
	case err := <-s.done:
		s.done <- err
		if err == nil {
			err = context.Cause(ctx)
		}
		return nil, fmt.Errorf("demo: the service did not start: %w", err)
	case <-time.After(90 * time.Second):
		return fail(errors.New("demo: the service printed no address within 90 s"))
	}
	c := apiclient.New(s.url, apiclient.NewHTTPClient())
	for wait := time.Now().Add(90 * time.Second); !c.Ready(ctx); {
		if time.Now().After(wait) {
			return fail(errors.New("demo: the service was not ready (/readyz) within 90 s"))
		}
		select {
		case <-ctx.Done():
			return fail(context.Cause(ctx))
		case <-time.After(50 * time.Millisecond):
		}
	}
	return s, nil
}

// stop shuts the service down and waits for it.
func (s *demoServer) stop() error {
	s.cancel()
	select {
	case err := <-s.done:
		return err
	case <-time.After(60 * time.Second):
		return errors.New("demo: the service did not stop within 60 s")
	}
}
