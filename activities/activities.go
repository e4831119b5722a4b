// Package activities holds the Temporal activities: the only place workflow code
// touches the world (the application database, the audit trail). Activities are
// methods on Activities, which carries the dependencies; workflows call them through
// a nil *Activities so the method names, not strings, tie the two together.
package activities

import (
	"context"
	"fmt"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/worker"

	"baocun"
)

// Activities carries what the activities need.
type Activities struct {
	Audit baocun.AuditLog
}

// Register registers every exported method of a as an activity.
func Register(r worker.ActivityRegistry, a *Activities) {
	r.RegisterActivity(a)
}

// RecordAudit appends a workflow event (stage opened, task due, reminder, escalation,
// decision applied, continue-as-new, cycle closed) to the audit trail. The entry's
// idempotency key is the workflow run and activity ID unless the caller set one, so
// an activity Temporal retries — after a timeout, a crash, a lost acknowledgement —
// never writes the event twice.
func (a *Activities) RecordAudit(ctx context.Context, e baocun.AuditEntry) error {
	if e.Key == "" {
		info := activity.GetInfo(ctx)
		e.Key = fmt.Sprintf("wf:%s/%s/%s", info.WorkflowExecution.ID, info.WorkflowExecution.RunID, info.ActivityID)
	}
	if e.Actor == "" {
		e.Actor = "system"
	}
	return a.Audit.Append(ctx, &e)
}
