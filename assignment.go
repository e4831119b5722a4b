package baocun

import (
	"fmt"
	"strings"
	"time"
)

// Running the programme day to day (issue 19): a task is its role's pool's until
// an organiser reassigns it or its holder delegates it; then it is one account's,
// and that account's delegate's while they are away. The policy still decides who
// may act: an assignment or a delegation only narrows who of those may.

// ReassignInput gives a task to another account (an organiser's).
type ReassignInput struct {
	To     string `json:"to"`
	Reason string `json:"reason,omitempty"`
}

// DelegateInput hands one task to another account until a time (代理).
type DelegateInput struct {
	To     string `json:"to"`
	Until  string `json:"until"` // RFC 3339 time, or a date (the end of that day, China time)
	Reason string `json:"reason,omitempty"`
}

// DelegationInput hands all of the caller's assigned tasks to another account for a
// while (外出期间代理).
type DelegationInput struct {
	To     string `json:"to"`
	From   string `json:"from,omitempty"` // default now
	Until  string `json:"until"`
	Reason string `json:"reason,omitempty"`
}

// Delegation is a stored delegation.
type Delegation struct {
	ID        int64     `json:"id"`
	Delegator string    `json:"delegator"`
	Delegate  string    `json:"delegate"`
	TaskID    string    `json:"task_id,omitempty"` // one task; none: every task assigned to the delegator
	StartsAt  time.Time `json:"starts_at"`
	Until     time.Time `json:"until"`
	Reason    string    `json:"reason,omitempty"`
	CreatedAt time.Time `json:"created_at"`
	Revoked   bool      `json:"revoked,omitempty"`
}

// MaxDelegation is the longest a delegation runs.
const MaxDelegation = 180 * 24 * time.Hour

// DueInput moves a task's due date (an organiser's, with a reason). TaskID is the
// route's; the body names the new programme date.
type DueInput struct {
	TaskID  string `json:"task_id,omitempty"`
	DueDate string `json:"due_at"` // programme date YYYY-MM-DD
	Reason  string `json:"reason"`
}

// MaxExtensionDays bounds how far one extension moves a due date.
const MaxExtensionDays = 366

// Validate checks a due-date change's shape; the workflow checks it against the task.
func (in DueInput) Validate() error {
	if _, err := ParseDate("due_at", in.DueDate); err != nil {
		return err
	}
	return requireText("reason", in.Reason, 500)
}

// NoteInput is a note on a task.
type NoteInput struct {
	Text string `json:"text"`
}

// TaskAction is something done about a task besides deciding it.
type TaskAction struct {
	At     time.Time         `json:"at"`
	Actor  string            `json:"actor"`
	Action string            `json:"action"` // reassign | delegate | due | remind | note
	Detail map[string]string `json:"detail,omitempty"`
}

// TaskDue is a task's new due date, as a change writes it.
type TaskDue struct {
	ID       string    `json:"id"`
	DueAt    time.Time `json:"due_at"`
	DueDate  string    `json:"due_date"`
	RemindAt time.Time `json:"remind_at"`
	By       string    `json:"by"`
	Reason   string    `json:"reason"`
}

// ParseUntil reads a delegation's end: an RFC 3339 time, or a date meaning the end
// of that day in China time.
func ParseUntil(field, s string) (time.Time, error) {
	s = strings.TrimSpace(s)
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t.UTC(), nil
	}
	d, err := time.ParseInLocation(time.DateOnly, s, ChinaTime)
	if err != nil {
		return time.Time{}, invalidField(field, fmt.Sprintf("须为时间 RFC 3339 或日期 YYYY-MM-DD must be an RFC 3339 time or a date, not %q", s))
	}
	return d.AddDate(0, 0, 1).UTC(), nil
}

// CheckWindow checks a delegation's window against now.
func CheckWindow(from, until, now time.Time) error {
	if !until.After(now) || !until.After(from) {
		return invalidField("until", "须晚于开始与现在 must be after the start and after now")
	}
	if until.Sub(now) > MaxDelegation {
		return invalidField("until", fmt.Sprintf("代理至多 %d 天 a delegation runs at most %d days", int(MaxDelegation.Hours()/24), int(MaxDelegation.Hours()/24)))
	}
	return nil
}

// BulkDecisionInput decides many tasks at once with one comment: each item is its
// own step, authorised, audited and keyed on its own.
type BulkDecisionInput struct {
	Items   []BulkItem `json:"items"`
	Comment string     `json:"comment,omitempty"`
}

// BulkItem is one task of a bulk decision.
type BulkItem struct {
	PairingID int64  `json:"pairing_id"`
	TaskID    string `json:"task_id"`
	Outcome   string `json:"outcome"`
}

// BulkResult is how each item of a bulk request ended.
type BulkResult struct {
	Items []BulkItemResult `json:"items"`
}

// BulkItemResult is one item's outcome: its HTTP status, and the error's message
// when it failed.
type BulkItemResult struct {
	TaskID string `json:"task_id"`
	Status int    `json:"status"`
	Error  string `json:"error,omitempty"`
	Code   string `json:"code,omitempty"`
}

// MaxBulkItems bounds one bulk request.
const MaxBulkItems = 200

// BulkRemindInput reminds many tasks at once.
type BulkRemindInput struct {
	TaskIDs []string `json:"task_ids"`
	Note    string   `json:"note,omitempty"`
}

// InspectionTeamInput forms a named inspection team of raters for a cycle.
type InspectionTeamInput struct {
	CycleID int64    `json:"cycle_id"`
	Name    string   `json:"name"`
	Members []string `json:"members"` // usernames of raters (reviewers)
}

// MaxInspectionMembers bounds one team.
const MaxInspectionMembers = 50

// Validate checks an inspection team's shape.
func (in InspectionTeamInput) Validate() error {
	if in.CycleID <= 0 {
		return invalidField("cycle_id", "必填 required")
	}
	if err := requireText("name", in.Name, 100); err != nil {
		return err
	}
	if len(in.Members) == 0 || len(in.Members) > MaxInspectionMembers {
		return invalidField("members", fmt.Sprintf("须有 1–%d 名评分人员 1 to %d raters", MaxInspectionMembers, MaxInspectionMembers))
	}
	seen := map[string]bool{}
	for i, m := range in.Members {
		if m == "" || len(m) > 64 || seen[m] {
			return invalidField(fmt.Sprintf("members[%d]", i), "须为不重复的用户名 a username, each once")
		}
		seen[m] = true
	}
	return nil
}

// InspectionTeam is a stored team, its members and the pairings it scores.
type InspectionTeam struct {
	ID        int64     `json:"id"`
	CycleID   int64     `json:"cycle_id"`
	Name      string    `json:"name"`
	Members   []Rater   `json:"members"`
	Pairings  []int64   `json:"pairings"`
	CreatedBy string    `json:"created_by"`
	CreatedAt time.Time `json:"created_at"`
}

// Rater is a member of an inspection team, with the department they may not score.
type Rater struct {
	Username   string `json:"username"`
	Department string `json:"department_code,omitempty"`
}

// AssignInput assigns pairings to an inspection team; with none named, every
// pairing of the cycle not yet assigned is spread over its teams (balanced).
type AssignInput struct {
	PairingIDs []int64 `json:"pairing_ids,omitempty"`
}
