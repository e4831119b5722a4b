package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"runtime/debug"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.temporal.io/server/common/dynamicconfig"
	"go.temporal.io/server/common/log"
	"go.temporal.io/server/common/log/tag"

	"baocun/temporalserver"
)

// --memory-limit reads IEC and SI sizes and plain bytes, 0 and off as none of its
// own; anything else is a usage error that names the flag and the value.
func TestParseMemoryLimit(t *testing.T) {
	good := []struct {
		in   string
		want int64
	}{
		{defaultMemoryLimit, 256 << 20},
		{"400MiB", 400 << 20},
		{"1GiB", 1 << 30},
		{"1.5GiB", 3 << 29},
		{"512 MiB", 512 << 20},
		{"300MB", 300_000_000},
		{"134217728", 128 << 20},
		{"0", 0},
		{"off", 0},
		{"OFF", 0},
	}
	for _, tt := range good {
		got, err := parseMemoryLimit("serve", tt.in)
		if err != nil || got != tt.want {
			t.Errorf("parseMemoryLimit(%q) = %d, %v; want %d", tt.in, got, err, tt.want)
		}
	}
	bad := []struct {
		in   string
		want string // besides the flag and the value
	}{
		{"", "want a size"},
		{"lots", "want a size"},
		{"-1GiB", "want a size"},
		{"1e9", "want a size"},
		{"12 apples", "want a size"},
		{"400", "at least 64MiB"}, // 400 bytes, meant as MiB
		{"63MiB", "at least 64MiB"},
		{"9EiB", "too large"},
	}
	for _, tt := range bad {
		_, err := parseMemoryLimit("serve", tt.in)
		var u *usageError
		if !errors.As(err, &u) {
			t.Errorf("parseMemoryLimit(%q): err = %v, want a usage error", tt.in, err)
			continue
		}
		for _, w := range []string{"serve: --memory-limit", strconv.Quote(tt.in), tt.want} {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("parseMemoryLimit(%q): %q does not say %q", tt.in, err, w)
			}
		}
	}
}

// The flag given wins over GOMEMLIMIT, GOMEMLIMIT over the flag's default; off leaves
// the runtime's own.
func TestMemoryLimitFor(t *testing.T) {
	const env = "300MiB"
	tests := []struct {
		name       string
		value      string
		given      bool
		gomemlimit string
		want       int64
		from       string
	}{
		{"default", defaultMemoryLimit, false, "", 256 << 20, "--memory-limit default"},
		{"environment wins over the default", defaultMemoryLimit, false, env, -1, "GOMEMLIMIT"},
		{"the flag wins over the environment", "1GiB", true, env, 1 << 30, "--memory-limit"},
		{"the flag given as the default's value still wins", defaultMemoryLimit, true, env, 256 << 20, "--memory-limit"},
		{"the flag", "512MiB", true, "", 512 << 20, "--memory-limit"},
		{"off, no environment", "off", true, "", -1, "none"},
		{"off leaves the environment's", "0", true, env, -1, "GOMEMLIMIT"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			getenv := func(k string) string {
				if k == "GOMEMLIMIT" {
					return tt.gomemlimit
				}
				return ""
			}
			limit, from := memoryLimitFor(tt.value, tt.given, getenv)
			if limit != tt.want || from != tt.from {
				t.Fatalf("memoryLimitFor(%q, %v, GOMEMLIMIT=%q) = %d, %q; want %d, %q", tt.value, tt.given, tt.gomemlimit, limit, from, tt.want, tt.from)
			}
		})
	}
}

// setMemoryLimit sets the runtime's limit itself, and puts the previous one back.
func TestSetMemoryLimit(t *testing.T) {
	prev := debug.SetMemoryLimit(-1)
	t.Cleanup(func() { debug.SetMemoryLimit(prev) })
	noEnv := func(string) string { return "" }

	limit, from, restore := setMemoryLimit(defaultMemoryLimit, false, noEnv)
	if got := debug.SetMemoryLimit(-1); got != 256<<20 || limit != got || from != "--memory-limit default" {
		t.Fatalf("runtime limit %d, reported %d from %q; want %d from the default", got, limit, from, 256<<20)
	}
	restore()
	if got := debug.SetMemoryLimit(-1); got != prev {
		t.Fatalf("after restore: %d, want %d", got, prev)
	}

	// GOMEMLIMIT set and the flag not given: the runtime's own limit (here the test
	// process's) is left as it is.
	limit, from, restore = setMemoryLimit(defaultMemoryLimit, false, func(k string) string { return map[string]string{"GOMEMLIMIT": "300MiB"}[k] })
	defer restore()
	if got := debug.SetMemoryLimit(-1); got != prev || limit != prev || from != "GOMEMLIMIT" {
		t.Fatalf("with GOMEMLIMIT: runtime limit %d, reported %d from %q; want %d untouched", got, limit, from, prev)
	}
}

// BAOCUN_MEMORY_LIMIT counts as the flag given, as the command line does; the default
// does not.
func TestMemoryLimitGiven(t *testing.T) {
	for _, tt := range []struct {
		args  []string
		env   map[string]string
		given bool
	}{
		{nil, nil, false},
		{[]string{"--memory-limit", "1GiB"}, nil, true},
		{nil, map[string]string{"BAOCUN_MEMORY_LIMIT": "1GiB"}, true},
		{nil, map[string]string{"GOMEMLIMIT": "1GiB"}, false},
	} {
		var cfg serveConfig
		fs := newServeFlags(&cfg)
		if err := parseFlags(fs, tt.args, func(k string) string { return tt.env[k] }, io.Discard); err != nil {
			t.Fatal(err)
		}
		if got := flagGiven(fs, "memory-limit"); got != tt.given {
			t.Errorf("args %q env %v: given = %v, want %v", tt.args, tt.env, got, tt.given)
		}
	}
}

// `baocun temporal` takes the same flags and refuses the same mistakes, naming them.
func TestTemporalCommandBadSizes(t *testing.T) {
	for _, tt := range []struct {
		args []string
		want []string
	}{
		{[]string{"--memory-limit", "lots"}, []string{"temporal: --memory-limit", "lots"}},
		{[]string{"--history-cache", "100"}, []string{"temporal: --history-cache 100", "at least 2048"}},
	} {
		err := run(context.Background(), append([]string{"baocun", "temporal", "--data-dir", t.TempDir()}, tt.args...),
			func(string) string { return "" }, io.Discard, io.Discard)
		var u *usageError
		if !errors.As(err, &u) {
			t.Errorf("%q: err = %v, want a usage error", tt.args, err)
			continue
		}
		for _, w := range tt.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%q: %q does not say %q", tt.args, err, w)
			}
		}
	}
}

// serve sets the runtime's soft memory limit as it starts: its default when
// GOMEMLIMIT is unset, GOMEMLIMIT's when it is set and the flag is not, the flag's
// when both are. The runtime's own reading is on /metrics (go_gc_gomemlimit_bytes),
// and the log says which limit is in effect.
func TestServeSetsMemoryLimit(t *testing.T) {
	metric := regexp.MustCompile(`(?m)^go_gc_gomemlimit_bytes (\S+)$`)
	for _, tt := range []struct {
		name string
		env  []string
		args []string
		want int64
		log  string
	}{
		{"default", []string{"GOMEMLIMIT="}, nil, 256 << 20, `limit="256 MiB" from="--memory-limit default"`},
		{"environment wins", []string{"GOMEMLIMIT=300MiB"}, nil, 300 << 20, `limit="300 MiB" from=GOMEMLIMIT`},
		{"flag wins over environment", []string{"GOMEMLIMIT=300MiB"}, []string{"--memory-limit", "1GiB"}, 1 << 30, `limit="1.0 GiB" from=--memory-limit`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			p := startServeEnv(t, tt.env, append([]string{"--data-dir", t.TempDir(), "--http", "127.0.0.1:0", "--temporal-port", "0"}, tt.args...)...)
			resp, err := http.Get(p.url + "metrics")
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			m := metric.FindSubmatch(body)
			if m == nil {
				t.Fatalf("no go_gc_gomemlimit_bytes on /metrics")
			}
			got, err := strconv.ParseFloat(string(m[1]), 64)
			if err != nil || int64(got) != tt.want {
				t.Errorf("go_gc_gomemlimit_bytes %s, want %d", m[1], tt.want)
			}
			if !strings.Contains(p.stderr.String(), `msg="soft memory limit" `+tt.log) {
				t.Errorf("the log does not say %s:\n%.2000s", tt.log, p.stderr)
			}
			p.kill() // a graceful stop is other tests' subject
		})
	}
}

// The embedded server's dynamic configuration, read as its history service reads it:
// every key converts (a value of the wrong type would be logged and replaced by the
// server's default) and has the value chosen for a city. (This test lives here, not
// in temporalserver, because each test binary that imports the server links it anew:
// see STACK.md.)
func TestEmbeddedServerDynamicConfig(t *testing.T) {
	for _, cache := range []int{0, 10000} {
		logger := &warnLogger{Logger: log.NewNoopLogger()}
		dc := dynamicconfig.NewCollection(temporalserver.DynamicConfig(cache), logger)
		wantCache := cache
		if cache == 0 {
			wantCache = temporalserver.DefaultHistoryCache
		}
		checks := []struct {
			key       string
			got, want any
		}{
			{"history.hostLevelCacheMaxSize", dynamicconfig.HistoryCacheHostLevelMaxSize.Get(dc)(), wantCache},
			{"history.cacheSizeBasedLimit", dynamicconfig.HistoryCacheSizeBasedLimit.Get(dc)(), false},
			{"history.cacheTTL", dynamicconfig.HistoryCacheTTL.Get(dc)(), 10 * time.Minute},
			{"history.cacheBackgroundEvict", dynamicconfig.HistoryCacheBackgroundEvict.Get(dc)(),
				dynamicconfig.CacheBackgroundEvictSettings{Enabled: true, LoopInterval: time.Minute, MaxEntryPerCall: 1024}},
			{"history.enableHostLevelEventsCache", dynamicconfig.EnableHostLevelEventsCache.Get(dc)(), false},
			{"history.eventsCacheMaxSizeBytes", dynamicconfig.EventsCacheMaxSizeBytes.Get(dc)(), 4 << 20},
			{"history.eventsCacheTTL", dynamicconfig.EventsCacheTTL.Get(dc)(), time.Hour}, // the default, left
		}
		for _, c := range checks {
			if c.got != c.want {
				t.Errorf("history cache %d: %s = %v, want %v", cache, c.key, c.got, c.want)
			}
		}
		if len(logger.warnings) > 0 {
			t.Errorf("the server would not take every value: %q", logger.warnings)
		}
	}
	// The chosen values are not the server's defaults, which are a cluster host's.
	defaults := dynamicconfig.NewNoopCollection()
	if n := dynamicconfig.HistoryCacheHostLevelMaxSize.Get(defaults)(); n != 128000 {
		t.Errorf("the server's default history cache is %d, not the 128,000 the comments weigh against", n)
	}
	if n := dynamicconfig.EventsCacheMaxSizeBytes.Get(defaults)(); n != 512<<10 {
		t.Errorf("the server's default events cache is %d bytes, not the 512 KiB the comments weigh against", n)
	}
}

// warnLogger records the warnings a dynamic-config collection logs.
type warnLogger struct {
	log.Logger
	warnings []string
}

func (l *warnLogger) Warn(msg string, tags ...tag.Tag) {
	for _, t := range tags {
		msg += fmt.Sprintf(" %s=%v", t.Key(), t.Value())
	}
	l.warnings = append(l.warnings, msg)
}
