package main

import (
	"flag"
	"fmt"
	"math"
	"runtime/debug"
	"strings"

	"github.com/dustin/go-humanize"

	"baocun/temporalserver"
)

// defaultMemoryLimit is --memory-limit's default: the Go runtime's soft memory limit
// for one process running a city on the embedded default. Without a limit the
// collector lets the heap grow to about twice what is live: a city's cycle kept 247 MB
// live and the process peaked at 920 MB (docs/PERFORMANCE.md). Part of that live heap
// was closed runs in the embedded server's history cache, which
// temporalserver.DynamicConfig now bounds; 256 MiB is meant to sit above what remains,
// so that the collector works harder near the limit rather than without pause, and
// keeps the process near 256 MiB plus what no Go limit covers: the binary's own pages
// (about 130 MB resident at rest) and SQLite's memory. A limit under what is live
// would give the collector up to half the CPU: raise it for more than a city.
const defaultMemoryLimit = "256MiB"

// minMemoryLimit is the smallest limit accepted: serve's heap at rest is about 50 MB
// (and its goroutine stacks about 17 MB), and a limit under what is live makes the collector
// take up to half the CPU for nothing. It also catches "--memory-limit 400" meant as
// MiB: a number without a unit is bytes.
const minMemoryLimit = 64 << 20

// memoryLimitFlag adds --memory-limit, the same for serve and temporal.
func memoryLimitFlag(fs *flag.FlagSet, p *string) {
	fs.StringVar(p, "memory-limit", defaultMemoryLimit,
		"the Go runtime's soft memory limit, set at start: a size (400MiB, 1GiB: powers of 1024; 400MB: of 1000; a number alone is bytes), or 0 or off for the runtime's own (GOMEMLIMIT, or none). "+
			"GOMEMLIMIT wins over this default, not over the flag given. The default suits a city on the embedded default: above what its cycle keeps live, so the collector has room, "+
			"and under the heap of twice that the collector otherwise allows (without a limit a city's process peaked at 920 MB). It bounds Go's memory, not the binary's pages or SQLite's. Raise it for more than a city")
}

// parseMemoryLimit reads a --memory-limit value of command: bytes, 0 for off.
func parseMemoryLimit(command, s string) (int64, error) {
	if strings.EqualFold(s, "off") {
		return 0, nil
	}
	n, err := humanize.ParseBytes(s)
	if err != nil {
		return 0, &usageError{fmt.Sprintf("%s: --memory-limit %q: want a size such as 256MiB or 1GiB (a number alone is bytes), or off", command, s)}
	}
	if n == 0 {
		return 0, nil
	}
	if n < minMemoryLimit {
		return 0, &usageError{fmt.Sprintf("%s: --memory-limit %q is %s: want at least 64MiB, or off (a number alone is bytes)", command, s, humanize.IBytes(n))}
	}
	if n > math.MaxInt64 {
		return 0, &usageError{fmt.Sprintf("%s: --memory-limit %q: too large", command, s)}
	}
	return int64(n), nil
}

// memoryLimitFor decides the soft memory limit a command sets at start from
// --memory-limit's value, whether it was given (on the command line or as
// BAOCUN_MEMORY_LIMIT) and the environment: a given flag wins; otherwise a GOMEMLIMIT
// in the environment, which the runtime applied as the process started, is left as
// it is; otherwise the flag's default applies. It returns the limit to set, -1 to
// leave the runtime's own, and where the limit in effect comes from. value has been
// checked by parseMemoryLimit.
func memoryLimitFor(value string, given bool, getenv func(string) string) (limit int64, from string) {
	env := getenv("GOMEMLIMIT") != ""
	if !given && env {
		return -1, "GOMEMLIMIT"
	}
	n, err := parseMemoryLimit("", value)
	if err != nil {
		panic(err) // checked before
	}
	switch {
	case n > 0 && given:
		return n, "--memory-limit"
	case n > 0:
		return n, "--memory-limit default"
	case env:
		return -1, "GOMEMLIMIT"
	default:
		return -1, "none"
	}
}

// setMemoryLimit sets the Go runtime's soft memory limit as memoryLimitFor says and
// returns the limit in effect, where it comes from, and a function that puts the
// previous limit back (for a command run inside a test process; a real process exits).
func setMemoryLimit(value string, given bool, getenv func(string) string) (inEffect int64, from string, restore func()) {
	prev := debug.SetMemoryLimit(-1)
	limit, from := memoryLimitFor(value, given, getenv)
	if limit > 0 {
		debug.SetMemoryLimit(limit)
	}
	return debug.SetMemoryLimit(-1), from, func() { debug.SetMemoryLimit(prev) }
}

// describeMemoryLimit is a limit for the log: "256 MiB", or "none".
func describeMemoryLimit(n int64) string {
	if n == math.MaxInt64 {
		return "none"
	}
	return humanize.IBytes(uint64(n))
}

// flagGiven reports whether the flag name was set on the command line or from its
// BAOCUN_ environment variable (parseFlags sets both through fs).
func flagGiven(fs *flag.FlagSet, name string) bool {
	given := false
	fs.Visit(func(f *flag.Flag) { given = given || f.Name == name })
	return given
}

// historyCacheFlag adds --history-cache, the same for serve and temporal.
func historyCacheFlag(fs *flag.FlagSet, p *int) {
	fs.IntVar(p, "history-cache", temporalserver.DefaultHistoryCache,
		fmt.Sprintf("workflow runs whose state the embedded Temporal server keeps in memory (at least %d; one pushed out is read again from temporal.db at its next use). "+
			"The default holds a city's open runs and those just closed; raise it, and --memory-limit, for more than a city", temporalserver.MinHistoryCache))
}

func checkHistoryCache(command string, n int) error {
	if n < temporalserver.MinHistoryCache {
		return &usageError{fmt.Sprintf("%s: --history-cache %d: at least %d (the server pins every run it is working on, up to about 1,600 at once)", command, n, temporalserver.MinHistoryCache)}
	}
	return nil
}
