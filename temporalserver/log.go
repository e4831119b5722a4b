package temporalserver

import (
	"context"
	"log/slog"

	"go.temporal.io/server/common/log"
	"go.temporal.io/server/common/log/tag"
)

// logger sends the server's logs through the process's slog logger, so there is one
// log stream. The server is chatty at info level: its info lines become debug.
type logger struct{ l *slog.Logger }

func newLogger(l *slog.Logger) log.Logger {
	return &logger{l: l.With("component", "temporal-server")}
}

func (g *logger) log(level slog.Level, msg string, tags []tag.Tag) {
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
func (g *logger) Info(msg string, tags ...tag.Tag)   { g.log(slog.LevelDebug, msg, tags) }
func (g *logger) Warn(msg string, tags ...tag.Tag)   { g.log(slog.LevelWarn, msg, tags) }
func (g *logger) Error(msg string, tags ...tag.Tag)  { g.log(slog.LevelError, msg, tags) }
func (g *logger) DPanic(msg string, tags ...tag.Tag) { g.log(slog.LevelError, msg, tags) }
func (g *logger) Panic(msg string, tags ...tag.Tag) {
	g.log(slog.LevelError, msg, tags)
	panic(msg)
}
func (g *logger) Fatal(msg string, tags ...tag.Tag) {
	g.log(slog.LevelError, msg, tags)
	panic(msg)
}

func (g *logger) With(tags ...tag.Tag) log.Logger {
	args := make([]any, 0, len(tags))
	for _, t := range tags {
		args = append(args, slog.Any(t.Key(), t.Value()))
	}
	return &logger{l: g.l.With(args...)}
}
