package web

import (
	"errors"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"
)

// Timeouts of the service's HTTP servers. A client that sends its request slowly, or
// keeps a connection open doing nothing, holds a goroutine and a socket: these drop
// it. The read timeout covers the whole request, so it is what a slow upload must
// finish within (an 8 MiB file needs about 2.2 Mbit/s); the write timeout must let a
// step wait for the workflow engine (engineTimeout) and answer.
const (
	ReadHeaderTimeout = 10 * time.Second
	ReadTimeout       = 30 * time.Second
	WriteTimeout      = 2 * time.Minute
	IdleTimeout       = 30 * time.Second
	// MaxHeaderBytes bounds a request's headers (a session cookie and a bearer
	// token are well under a kilobyte).
	MaxHeaderBytes = 64 << 10
	// StreamTimeout is how long an export may take to send: it is far longer than a
	// page, so each export moves its own write deadline (streaming).
	StreamTimeout = 30 * time.Minute
)

// NewHTTPServer is how the service serves h: serve and its tests build every server
// through it, so a test of the timeouts tests what runs.
func NewHTTPServer(h http.Handler) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: ReadHeaderTimeout,
		ReadTimeout:       ReadTimeout,
		WriteTimeout:      WriteTimeout,
		IdleTimeout:       IdleTimeout,
		MaxHeaderBytes:    MaxHeaderBytes,
	}
}

// streaming gives a response that streams an export StreamTimeout to be sent,
// in place of the server's WriteTimeout.
func streaming(c *gin.Context) {
	if err := http.NewResponseController(c.Writer).SetWriteDeadline(time.Now().Add(StreamTimeout)); err != nil && !errors.Is(err, http.ErrNotSupported) {
		c.Error(err)
	}
}
