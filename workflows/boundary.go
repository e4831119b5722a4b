package workflows

import "baocun"

// The boundary with the API: what a route hands the engine (baocun.Step, a stored
// cycle) becomes a workflow's payload here, and a workflow's answer becomes the
// API's. Payloads are recorded in histories, so they change only behind a version;
// the API's types may change freely on the other side of these converters.

// updates names each step's Update. The names are in every history: never rename one.
var updates = map[baocun.StepKind]string{
	baocun.StepNominateTeam: UpdateNominateTeam, baocun.StepDecideTeam: UpdateDecideTeam,
	baocun.StepDecideReview: UpdateDecideReview, baocun.StepAcknowledge: UpdateAcknowledge,
	baocun.StepConfirmArrival: UpdateConfirmArrive, baocun.StepSubmitPlan: UpdateSubmitPlan,
	baocun.StepSubmitReport: UpdateSubmitReport, baocun.StepRequestChange: UpdateRequestChange,
	baocun.StepEvaluate: UpdateEvaluate, baocun.StepCancel: UpdateCancel,
	baocun.StepSelfAssess: UpdateSelfAssess, baocun.StepScore: UpdateScore,
	baocun.StepConfirm: UpdateConfirm, baocun.StepAppeal: UpdateAppeal,
	baocun.StepDecideAppeal: UpdateDecideAppeal, baocun.StepExtendDue: UpdateExtendDue,
	baocun.StepPropose: UpdatePropose, baocun.StepApprove: UpdateApprove,
}

// Update returns the workflow, the Update and its argument that take an API step.
func Update(st baocun.Step) (workflowID, update string, arg any, ok bool) {
	update, ok = updates[st.Kind]
	if !ok {
		return "", "", nil, false
	}
	if st.Kind.CycleStep() {
		return CycleWorkflowID(st.Cycle), update, CycleStep{Actor: st.Actor, Audit: st.Audit, Department: st.Department,
			Propose: st.Propose, Approve: st.Approve}, true
	}
	return PairingWorkflowID(st.Pairing), update, Step{Actor: st.Actor, Person: st.Person, Audit: st.Audit,
		Team: st.Team, Change: st.Change, Plan: st.Plan, Report: st.Report, Evaluation: st.Evaluation,
		Decision: st.Decision, SelfAssess: st.SelfAssess, Score: st.Score, Confirm: st.Confirm, Appeal: st.Appeal,
		AppealDecision: st.AppealDecision, Reason: st.Reason, Due: st.Due, Names: st.Names}, true
}

// Result is the API's answer for what a step's Update did.
func (r StepResult) Result() baocun.StepResult {
	return baocun.StepResult{Stage: r.Stage, Period: r.Period, Closed: r.Closed, Opened: r.Opened, Request: r.Request}
}

// CycleInputOf is the Cycle workflow's input for a stored cycle of n pairings.
func CycleInputOf(cy *baocun.Cycle, n int) CycleInput {
	return CycleInput{CycleID: cy.ID, Pairings: n, Settings: cy.Settings.WithoutRubric(), Clock: cy.Clock(),
		BatchSize: LaunchBatchSize}
}
