package baocun

import (
	"context"
	"time"
)

// AuditEntry is one record of the audit trail: who did what to which resource, whether
// it was allowed and by which rule, and how it ended. Entries form one hash chain:
// Hash covers the entry's canonical form and PrevHash, so any edit, deletion,
// insertion or reordering shows.
type AuditEntry struct {
	Seq          int64     `json:"seq"`
	At           time.Time `json:"at"`
	Actor        string    `json:"actor"`                  // username, or "system" for workflow events
	Role         string    `json:"role,omitempty"`         // the role the actor acted in
	Jurisdiction string    `json:"jurisdiction,omitempty"` // "*" or a county's name
	Action       string    `json:"action"`                 // e.g. "auth.login", "policy.grant", "pairing.stage_opened"
	Resource     string    `json:"resource,omitempty"`     // e.g. "pairings/42", "users/alice"
	CycleID      string    `json:"cycle_id,omitempty"`
	PairingID    string    `json:"pairing_id,omitempty"`
	Department   string    `json:"department,omitempty"` // department code
	Village      string    `json:"village,omitempty"`    // village code
	Decision     string    `json:"decision,omitempty"`   // "allow" or "deny" for authorization decisions
	Rule         string    `json:"rule,omitempty"`       // the policy rule that matched
	Status       int       `json:"status,omitempty"`     // outcome: the HTTP status, or 0
	RequestID    string    `json:"request_id,omitempty"`
	SourceIP     string    `json:"source_ip,omitempty"`
	UserAgent    string    `json:"user_agent,omitempty"`
	Summary      string    `json:"summary,omitempty"` // the payload summarised as JSON, secrets removed
	// Key makes an append idempotent: a second append with the same non-empty Key
	// writes nothing (a retried activity never writes twice).
	Key      string `json:"key,omitempty"`
	PrevHash string `json:"prev_hash"`
	Hash     string `json:"hash"`
}

// Decisions recorded in AuditEntry.Decision.
const (
	DecisionAllow = "allow"
	DecisionDeny  = "deny"
)

// AuditFilter selects audit entries, newest first. Zero fields match everything.
type AuditFilter struct {
	Actor, Action, CycleID, PairingID, Department, Village, Decision string
	Since, Until                                                     time.Time // Since inclusive, Until exclusive
	Cursor                                                           string    // from the previous page
	Limit                                                            int       // default 100, at most 1000
}

// AuditVerification is the result of checking the whole chain, its checkpoints and,
// when there is one, the anchor that holds copies of the checkpoints outside the
// database.
type AuditVerification struct {
	OK          bool   `json:"ok"`
	Entries     int64  `json:"entries"`
	Checkpoints int64  `json:"checkpoints"`
	FirstBadSeq *int64 `json:"first_bad_seq"` // null when OK
	Reason      string `json:"reason,omitempty"`
	// AnchorLine is the anchor's line (from 1) where the chain and its anchor part; 0
	// (omitted) when the anchor is not where the problem lies.
	AnchorLine int `json:"anchor_line,omitempty"`
	// Anchored counts the anchor's lines found in the chain exactly as anchored.
	Anchored int64 `json:"anchored,omitempty"`
	// Unsigned counts the entries after the last checkpoint, the oldest written at
	// UnsignedSince: only the next checkpoint will vouch for them.
	Unsigned      int64      `json:"unsigned,omitempty"`
	UnsignedSince *time.Time `json:"unsigned_since,omitempty"`
}

// AuditLog is the one audit writer and reader.
type AuditLog interface {
	// Append adds e to the chain, filling Seq, At (when zero), PrevHash and Hash.
	Append(ctx context.Context, e *AuditEntry) error
	// Query returns one page of entries matching f and the cursor of the next page
	// ("" when there is none).
	Query(ctx context.Context, f AuditFilter) ([]AuditEntry, string, error)
	// Verify checks every entry's hash, the chain's links and the signed checkpoints.
	Verify(ctx context.Context) (AuditVerification, error)
}
