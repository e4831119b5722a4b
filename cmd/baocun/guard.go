package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/time/rate"

	"baocun"
	"baocun/workflows"
)

// securityEvents writes the steps the worker refused for their signature to the audit
// trail. The worker's guard runs inside workflow code, where nothing may block or
// touch the database, so it hands each refusal to this queue and one goroutine
// appends it. A full queue, or more events than the trail takes (securityRate), drops
// the event (counted and logged): a flood of forged steps must neither stall the
// workflows that check them nor fill the trail.
type securityEvents struct {
	audit   baocun.AuditLog
	log     *slog.Logger
	refused prometheus.Counter
	dropped prometheus.Counter
	limit   *rate.Limiter

	mu     sync.RWMutex // guards closed against sends on ch
	closed bool
	ch     chan workflows.Refusal
	done   chan struct{}
}

// The trail takes refused steps at securityRate a second, in bursts of securityBurst:
// far more than any honest fault produces, far fewer than a flood would write.
const (
	securityRate  = 10
	securityBurst = 100
)

func newSecurityEvents(audit baocun.AuditLog, log *slog.Logger, reg prometheus.Registerer) *securityEvents {
	s := &securityEvents{
		audit: audit,
		log:   log,
		refused: prometheus.NewCounter(prometheus.CounterOpts{Name: "baocun_steps_refused_signature_total",
			Help: "Updates the worker refused for a missing, wrong or stale step signature."}),
		dropped: prometheus.NewCounter(prometheus.CounterOpts{Name: "baocun_security_events_dropped_total",
			Help: "Refused steps not written to the audit trail: its queue was full, or they came faster than securityRate."}),
		limit: rate.NewLimiter(securityRate, securityBurst),
		ch:    make(chan workflows.Refusal, 1024),
		done:  make(chan struct{}),
	}
	reg.MustRegister(s.refused, s.dropped)
	go s.run()
	return s
}

// record is the guard's callback: it never blocks.
func (s *securityEvents) record(r workflows.Refusal) {
	s.refused.Inc()
	s.log.Warn("step refused: bad signature", "workflow", r.WorkflowID, "update", r.Update, "update_id", r.UpdateID, "reason", r.Reason, "claimed_actor", r.Actor)
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return
	}
	if !s.limit.Allow() {
		s.dropped.Inc()
		s.log.Error("security event not audited: more than the trail takes", "workflow", r.WorkflowID, "update_id", r.UpdateID)
		return
	}
	select {
	case s.ch <- r:
	default:
		s.dropped.Inc()
		s.log.Error("security event dropped: audit queue full", "workflow", r.WorkflowID, "update_id", r.UpdateID)
	}
}

func (s *securityEvents) run() {
	defer close(s.done)
	for r := range s.ch {
		e := refusalEntry(r)
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		if err := s.audit.Append(ctx, &e); err != nil {
			s.log.Error("security event not audited", "workflow", r.WorkflowID, "update_id", r.UpdateID, "err", err)
		}
		cancel()
	}
}

// close writes what is queued; call it once the worker has stopped.
func (s *securityEvents) close() {
	s.mu.Lock()
	if !s.closed {
		s.closed = true
		close(s.ch)
	}
	s.mu.Unlock()
	<-s.done
}

// refusalEntry is the audit entry of a refused step. Its actor is not the one the
// step claims, which nothing vouches for: that claim is in the summary.
func refusalEntry(r workflows.Refusal) baocun.AuditEntry {
	summary, _ := json.Marshal(map[string]string{"workflow_id": r.WorkflowID, "update": r.Update, "update_id": r.UpdateID,
		"reason": r.Reason, "claimed_actor": r.Actor})
	// One entry per refused Update, however often its workflow task is retried.
	key := sha256.Sum256([]byte(r.WorkflowID + "\x00" + r.UpdateID + "\x00" + r.Reason))
	e := baocun.AuditEntry{
		Actor:    "temporal-client",
		Action:   "security.step_refused",
		Resource: "workflows/" + r.WorkflowID,
		Decision: baocun.DecisionDeny,
		Rule:     "step-signature",
		Status:   http.StatusUnauthorized,
		Summary:  string(summary),
		Key:      "step-refused/" + hex.EncodeToString(key[:16]),
	}
	if id, ok := strings.CutPrefix(r.WorkflowID, "pairing-"); ok {
		e.PairingID = id
	} else if id, ok := strings.CutPrefix(r.WorkflowID, "cycle-"); ok && !strings.Contains(id, "-") {
		e.CycleID = id
	}
	return e
}
