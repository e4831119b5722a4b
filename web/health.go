package web

import (
	"context"
	"net/http"
	"sync"
	"time"

	"github.com/gin-gonic/gin"
)

// handleHealthz answers while the process can serve HTTP at all.
func handleHealthz() gin.HandlerFunc {
	return func(c *gin.Context) {
		c.JSON(http.StatusOK, gin.H{"status": "ok"})
	}
}

type checkResult struct {
	OK    bool   `json:"ok"`
	Error string `json:"error,omitempty"`
	// Millis is how long the check took: a slow dependency shows before it fails.
	Millis int64 `json:"ms"`
}

// handleReadyz runs every check at once, each with its own deadline, and answers 200
// only when all pass; the body has each part's result either way.
func handleReadyz(checks []Check) gin.HandlerFunc {
	return func(c *gin.Context) {
		ctx, cancel := context.WithTimeout(c.Request.Context(), 3*time.Second)
		defer cancel()
		results := make(map[string]checkResult, len(checks))
		var mu sync.Mutex
		var wg sync.WaitGroup
		for _, ch := range checks {
			wg.Go(func() {
				start := time.Now()
				err := ch.Func(ctx)
				r := checkResult{OK: err == nil, Millis: time.Since(start).Milliseconds()}
				if err != nil {
					r.Error = err.Error()
				}
				mu.Lock()
				results[ch.Name] = r
				mu.Unlock()
			})
		}
		wg.Wait()
		status, ready := http.StatusOK, true
		for _, r := range results {
			if !r.OK {
				status, ready = http.StatusServiceUnavailable, false
			}
		}
		c.JSON(status, gin.H{"ready": ready, "checks": results})
	}
}
