package temporalserver

import (
	"context"
	"log/slog"
	"time"

	"go.temporal.io/server/common/log"
	"go.temporal.io/server/common/log/tag"
)

// startupQuiet is how long after Start the server's warnings and errors are logged at
// debug level: while its four services find each other it reports failures (context
// canceled, not enough hosts) that heal by themselves and would only alarm operators.
const startupQuiet = 5 * time.Second

// logger sends the server's logs through the process's slog logger, so there is one
// log stream, filtered at its own level.
type logger struct {
	l          *slog.Logger
	level      slog.Level
	quietUntil time.Time
}

func newLogger(l *slog.Logger, level slog.Level) *logger {
	return &logger{l: l.With("component", "temporal-server"), level: level, quietUntil: time.Now().Add(startupQuiet)}
}

func (g *logger) log(level slog.Level, msg string, tags []tag.Tag) {
	if level < g.level {
		return
	}
	if level < slog.LevelError+4 && time.Now().Before(g.quietUntil) {
		level = slog.LevelDebug
	}
	if !g.l.Enabled(context.Background(), level) {
		return
	}
	attrs := make([]slog.Attr, 0, len(tags))
	for _, t := range tags {
		attrs = append(attrs, slog.Any(t.Key(), t.Value()))
	}
	g.l.LogAttrs(context.Background(), level, msg, attrs...)
}

func (g *logger) Debug(msg string, tags ...tag.Tag)  { g.log(slog.LevelDebug, msg, tags) }
func (g *logger) Info(msg string, tags ...tag.Tag)   { g.log(slog.LevelInfo, msg, tags) }
func (g *logger) Warn(msg string, tags ...tag.Tag)   { g.log(slog.LevelWarn, msg, tags) }
func (g *logger) Error(msg string, tags ...tag.Tag)  { g.log(slog.LevelError, msg, tags) }
func (g *logger) DPanic(msg string, tags ...tag.Tag) { g.log(slog.LevelError, msg, tags) }

// Panic and Fatal are logged above every threshold, then panic as the server expects.
func (g *logger) Panic(msg string, tags ...tag.Tag) {
	g.log(slog.LevelError+4, msg, tags)
	panic(msg)
}

func (g *logger) Fatal(msg string, tags ...tag.Tag) {
	g.log(slog.LevelError+4, msg, tags)
	panic(msg)
}

func (g *logger) With(tags ...tag.Tag) log.Logger {
	args := make([]any, 0, len(tags))
	for _, t := range tags {
		args = append(args, slog.Any(t.Key(), t.Value()))
	}
	return &logger{l: g.l.With(args...), level: g.level, quietUntil: g.quietUntil}
}
