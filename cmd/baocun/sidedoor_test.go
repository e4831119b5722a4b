package main

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	commonpb "go.temporal.io/api/common/v1"
	enumspb "go.temporal.io/api/enums/v1"
	namespacepb "go.temporal.io/api/namespace/v1"
	"go.temporal.io/api/serviceerror"
	updatepb "go.temporal.io/api/update/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/interceptor"
	"go.temporal.io/sdk/temporal"
	"google.golang.org/protobuf/types/known/durationpb"

	"baocun"
	"baocun/apiclient"
	"baocun/temporalserver"
	"baocun/workflows"
)

// The side doors into the record: the Temporal frontend itself, and the step
// envelope a workflow is handed. An outsider who reaches the frontend's port is
// refused every call; a holder of the service's certificate without the step key
// cannot get a forged step applied; in both cases the pairing's record and trail
// stay as they were.

// sideDoor is a deployment under attack: the frontend, its certificates, the service's
// roles, and a pairing (nominated, so its approve_team task is open) to aim at.
type sideDoor struct {
	address string
	pid     int // the process the Temporal server runs in
	certs   *temporalserver.Certificates
	stepKey string
	r       *roles
	pairing baocun.Pairing
	others  []baocun.Pairing
}

// newSideDoor signs in the roles at base, launches n pairings and nominates the first
// one's team through the API, so its history holds a genuinely signed step.
func newSideDoor(t *testing.T, base string, server *process, address, tlsDir, stepKey string, n int) *sideDoor {
	t.Helper()
	certs, err := temporalserver.ReadCertificates(tlsDir)
	if err != nil {
		t.Fatal(err)
	}
	r := newRoles(t, base, 5) // the sample directory's smallest
	ps := r.launch(t, n)
	d := &sideDoor{address: address, pid: server.cmd.Process.Pid, certs: certs, stepKey: stepKey, r: r, pairing: ps[0], others: ps[1:]}
	ctx := context.Background()
	team := r.teamOf(d.pairing.Village)
	// At once after launch: 409 until the pairing's workflow runs; then the step is
	// taken, and its write waits for the launch batch's write of the task it closes
	// (CI once saw it answered 500, "the database refused").
	deadline := time.Now().Add(time.Minute)
	for {
		_, err := r.leads[d.pairing.Department].NominateTeam(ctx, d.pairing.ID, baocun.TeamInput{Leader: team[0], Members: team})
		if err == nil {
			break
		}
		if apiclient.StatusOf(err) != 409 || time.Now().After(deadline) {
			t.Fatalf("nominate: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	return d
}

// pairingRecord is what an attack must leave unchanged: the pairing's stage, tasks and
// timeline, its workflow's run, and its audit entries.
type pairingRecord struct {
	Stage    baocun.Stage
	Tasks    []baocun.Task
	Timeline []baocun.Event
	RunID    string
	Status   enumspb.WorkflowExecutionStatus
	Audit    []baocun.AuditEntry
}

func (d *sideDoor) record(t *testing.T) pairingRecord {
	t.Helper()
	ctx := context.Background()
	v, err := d.r.org.Pairing(ctx, d.pairing.ID)
	if err != nil {
		t.Fatal(err)
	}
	c := d.client(t, temporalserver.Service, true)
	desc, err := c.DescribeWorkflowExecution(ctx, workflows.PairingWorkflowID(d.pairing.ID), "")
	if err != nil {
		t.Fatal(err)
	}
	audit, err := d.r.auditor.Audit(ctx, url.Values{"pairing": {fmt.Sprint(d.pairing.ID)}})
	if err != nil {
		t.Fatal(err)
	}
	var kept []baocun.AuditEntry
	for _, e := range audit {
		if e.Action != "security.step_refused" {
			kept = append(kept, e)
		}
	}
	info := desc.GetWorkflowExecutionInfo()
	return pairingRecord{Stage: v.Stage, Tasks: v.Tasks, Timeline: v.Timeline, RunID: info.GetExecution().GetRunId(), Status: info.GetStatus(), Audit: kept}
}

func (d *sideDoor) checkUnchanged(t *testing.T, before pairingRecord) {
	t.Helper()
	after := d.record(t)
	if !reflect.DeepEqual(before, after) {
		a, _ := json.MarshalIndent(before, "", " ")
		b, _ := json.MarshalIndent(after, "", " ")
		t.Fatalf("the pairing's record changed:\nbefore %s\nafter %s", a, b)
	}
	if v, err := d.r.auditor.VerifyAudit(context.Background()); err != nil || !v.OK {
		t.Fatalf("audit verification: %+v, %v", v, err)
	}
}

// client is a lazy Temporal client (no call made yet) presenting who's certificate
// of the deployment's set; signed adds the service's step signing.
func (d *sideDoor) client(t *testing.T, who string, signed bool) client.Client {
	t.Helper()
	conf, err := d.certs.ClientTLS(who)
	if err != nil {
		t.Fatal(err)
	}
	opts := client.Options{ConnectionOptions: client.ConnectionOptions{TLS: conf}}
	if signed {
		key, err := workflows.ReadStepKey(d.stepKey)
		if err != nil {
			t.Fatal(err)
		}
		opts.Interceptors = []interceptor.ClientInterceptor{workflows.SigningInterceptor(key)}
	}
	return d.lazy(t, opts)
}

func (d *sideDoor) lazy(t *testing.T, opts client.Options) client.Client {
	t.Helper()
	opts.HostPort, opts.Namespace = d.address, baocun.DefaultNamespace
	c, err := client.NewLazyClient(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

// forgedStep is a well-formed decision approving the pairing's open approve_team
// task in the organiser's name: applied, it would change the record.
func (d *sideDoor) forgedStep(t *testing.T) workflows.Step {
	t.Helper()
	v, err := d.r.org.Pairing(context.Background(), d.pairing.ID)
	if err != nil {
		t.Fatal(err)
	}
	for _, task := range v.Tasks {
		if task.Kind == baocun.TaskApproveTeam && task.Status == baocun.TaskOpen {
			return workflows.Step{Actor: "organiser", Decision: &baocun.DecisionInput{TaskID: task.ID, Outcome: baocun.OutcomeApprove, Comment: "forged"},
				Audit: baocun.AuditEntry{Actor: "organiser", Role: string(baocun.RoleOrganiser), Jurisdiction: baocun.CityJurisdiction, Action: "team.decide",
					Resource: fmt.Sprintf("pairings/%d", d.pairing.ID), Decision: baocun.DecisionAllow, Status: 200, Summary: `{"outcome":"approve"}`}}
		}
	}
	t.Fatalf("pairing %d has no open approve_team task: %+v", d.pairing.ID, v.Tasks)
	return workflows.Step{}
}

// target is what a frontend call is aimed at: a workflow and an Update it would take.
type target struct {
	workflowID string
	update     string
	arg        any
	resetTo    int64 // a completed workflow task's event, to reset to
}

// frontendCalls are what an outsider would try: every kind of call the issue names.
var frontendCalls = []struct {
	name  string
	write bool
	call  func(ctx context.Context, c client.Client, tg target) error
}{
	{"start", true, func(ctx context.Context, c client.Client, tg target) error {
		_, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: tg.workflowID + "-started", TaskQueue: baocun.TaskQueue}, workflows.Probe, workflows.ProbeInput{Wait: time.Hour})
		return err
	}},
	{"signal", true, func(ctx context.Context, c client.Client, tg target) error {
		return c.SignalWorkflow(ctx, tg.workflowID, "", "side-door", "hello")
	}},
	{"update", true, func(ctx context.Context, c client.Client, tg target) error {
		h, err := c.UpdateWorkflow(ctx, client.UpdateWorkflowOptions{WorkflowID: tg.workflowID, UpdateName: tg.update, Args: []any{tg.arg},
			WaitForStage: client.WorkflowUpdateStageCompleted})
		if err != nil {
			return err
		}
		return h.Get(ctx, nil)
	}},
	{"query", false, func(ctx context.Context, c client.Client, tg target) error {
		_, err := c.QueryWorkflow(ctx, tg.workflowID, "", "state")
		return err
	}},
	{"describe", false, func(ctx context.Context, c client.Client, tg target) error {
		_, err := c.DescribeWorkflowExecution(ctx, tg.workflowID, "")
		return err
	}},
	{"list", false, func(ctx context.Context, c client.Client, tg target) error {
		_, err := c.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{Namespace: baocun.DefaultNamespace})
		return err
	}},
	{"history", false, func(ctx context.Context, c client.Client, tg target) error {
		it := c.GetWorkflowHistory(ctx, tg.workflowID, "", false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
		_, err := it.Next()
		return err
	}},
	{"namespace update", true, func(ctx context.Context, c client.Client, tg target) error {
		_, err := c.WorkflowService().UpdateNamespace(ctx, &workflowservice.UpdateNamespaceRequest{Namespace: baocun.DefaultNamespace,
			UpdateInfo: &namespacepb.UpdateNamespaceInfo{Description: "side door"}})
		return err
	}},
	{"namespace register", true, func(ctx context.Context, c client.Client, tg target) error {
		_, err := c.WorkflowService().RegisterNamespace(ctx, &workflowservice.RegisterNamespaceRequest{Namespace: "side-door-" + tg.workflowID,
			WorkflowExecutionRetentionPeriod: durationpb.New(24 * time.Hour)})
		return err
	}},
	{"reset", true, func(ctx context.Context, c client.Client, tg target) error {
		_, err := c.ResetWorkflowExecution(ctx, &workflowservice.ResetWorkflowExecutionRequest{Namespace: baocun.DefaultNamespace,
			WorkflowExecution: &commonpb.WorkflowExecution{WorkflowId: tg.workflowID}, Reason: "side door",
			WorkflowTaskFinishEventId: tg.resetTo, RequestId: "side-door-" + tg.workflowID})
		return err
	}},
	{"terminate", true, func(ctx context.Context, c client.Client, tg target) error {
		return c.TerminateWorkflow(ctx, tg.workflowID, "", "side door")
	}},
}

// firstTaskCompleted is the event ID of a workflow's first completed workflow task.
func firstTaskCompleted(t *testing.T, c client.Client, id string) int64 {
	t.Helper()
	it := c.GetWorkflowHistory(context.Background(), id, "", false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	for it.HasNext() {
		e, err := it.Next()
		if err != nil {
			t.Fatal(err)
		}
		if e.GetEventType() == enumspb.EVENT_TYPE_WORKFLOW_TASK_COMPLETED {
			return e.GetEventId()
		}
	}
	t.Fatalf("%s: no completed workflow task", id)
	return 0
}

// attack runs every frontend call, at once, through c against tg and returns each
// call's error.
func attack(c client.Client, tg target) map[string]error {
	var mu sync.Mutex
	out := map[string]error{}
	var wg sync.WaitGroup
	for _, fc := range frontendCalls {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			err := fc.call(ctx, c, tg)
			mu.Lock()
			out[fc.name] = err
			mu.Unlock()
		}()
	}
	wg.Wait()
	return out
}

// checkFrontend is the attack and its control on one deployment.
func (d *sideDoor) checkFrontend(t *testing.T) {
	ctx := context.Background()
	service := d.client(t, temporalserver.Service, true)
	pairingID := workflows.PairingWorkflowID(d.pairing.ID)
	aim := target{workflowID: pairingID, update: workflows.UpdateDecideTeam, arg: d.forgedStep(t), resetTo: firstTaskCompleted(t, service, pairingID)}
	before := d.record(t)

	// Certificates an outsider could make: a whole set of another authority.
	foreign, err := temporalserver.CreateCertificates(filepath.Join(t.TempDir(), "foreign"))
	if err != nil {
		t.Fatal(err)
	}
	foreignConf, err := foreign.ClientTLS(temporalserver.Service)
	if err != nil {
		t.Fatal(err)
	}
	ours, err := d.certs.ClientTLS(temporalserver.Service)
	if err != nil {
		t.Fatal(err)
	}
	foreignConf.RootCAs = ours.RootCAs // it trusts our server; we must not trust it
	outsiders := []struct {
		name string
		opts client.Options
	}{
		{"plain text", client.Options{}},
		{"TLS without a certificate", client.Options{ConnectionOptions: client.ConnectionOptions{TLS: &tls.Config{RootCAs: ours.RootCAs, ServerName: temporalserver.ServerName}}}},
		{"a certificate of another authority", client.Options{ConnectionOptions: client.ConnectionOptions{TLS: foreignConf}}},
		{"an API key and no certificate", client.Options{ConnectionOptions: client.ConnectionOptions{TLS: &tls.Config{RootCAs: ours.RootCAs, ServerName: temporalserver.ServerName}},
			Credentials: client.NewAPIKeyStaticCredentials("guessed")}},
	}
	for _, o := range outsiders {
		t.Run(o.name, func(t *testing.T) {
			for name, err := range attack(d.lazy(t, o.opts), aim) {
				if err == nil {
					t.Errorf("%s: allowed", name)
				}
			}
		})
	}
	// The operator's certificate reads and changes nothing.
	t.Run("operator", func(t *testing.T) {
		errs := attack(d.client(t, temporalserver.Operator, false), aim)
		for _, fc := range frontendCalls {
			err := errs[fc.name]
			var denied *serviceerror.PermissionDenied
			switch {
			case fc.write && !errors.As(err, &denied):
				t.Errorf("%s: %v, want permission denied", fc.name, err)
			case !fc.write && err != nil:
				t.Errorf("%s (read): %v", fc.name, err)
			}
		}
	})
	d.checkUnchanged(t, before)
	if _, err := service.WorkflowService().DescribeNamespace(ctx, &workflowservice.DescribeNamespaceRequest{Namespace: "side-door-" + pairingID}); err == nil {
		t.Fatal("a namespace was registered through the side door")
	}

	// The control: each call is one that works, made with the service's credentials
	// (on a probe workflow of its own, so the pairing is left alone).
	run, err := service.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: "side-door-control", TaskQueue: baocun.TaskQueue}, workflows.Probe, workflows.ProbeInput{Wait: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	awaitQuery(t, service, run.GetID())
	control := target{workflowID: run.GetID(), update: workflows.ProbeAckUpdate, arg: "control", resetTo: firstTaskCompleted(t, service, run.GetID())}
	for _, fc := range frontendCalls {
		cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		if err := fc.call(cctx, service, control); err != nil {
			t.Errorf("control %s with the service's credentials: %v", fc.name, err)
		}
		cancel()
	}
}

// Against the embedded default: the frontend admits only the service.
func TestFrontendAdmitsOnlyTheService(t *testing.T) {
	if testing.Short() {
		t.Skip("the full run's (serve under attack at its frontend): go test ./...")
	}
	dir := t.TempDir()
	p := startServeEnv(t, []string{EnvAdminPassword + "=" + faultPassword}, "--data-dir", dir, "--http", "127.0.0.1:0", "--temporal-port", "0")
	p.waitReady(t)
	d := newSideDoor(t, p.url, p, p.temporal, filepath.Join(dir, temporalserver.TLSDir), filepath.Join(dir, workflows.StepKeyFile), 1)
	d.checkFrontend(t)
	d.checkInternalPorts(t)
	// The operator's read-only certificate lists the open runs by change version.
	_, port, _ := net.SplitHostPort(p.temporal)
	checkRuns(t, "--data-dir", dir, "--temporal-port", port)
}

// Against `baocun temporal`, the server several instances share.
func TestTemporalCommandAdmitsOnlyTheService(t *testing.T) {
	if testing.Short() {
		t.Skip("the full run's (a stand-alone Temporal server): go test ./...")
	}
	tdir, sdir := t.TempDir(), t.TempDir()
	tp := startTemporal(t, "--data-dir", tdir, "--temporal-port", "0")
	p := startServeEnv(t, []string{EnvAdminPassword + "=" + faultPassword}, append([]string{"--data-dir", sdir, "--http", "127.0.0.1:0",
		"--temporal-address", tp.temporal}, joinFlags(tdir)...)...)
	p.waitReady(t)
	d := newSideDoor(t, p.url, tp, tp.temporal, filepath.Join(tdir, temporalserver.TLSDir), filepath.Join(sdir, workflows.StepKeyFile), 1)
	d.checkFrontend(t)
	d.checkInternalPorts(t)
	_, port, _ := net.SplitHostPort(tp.temporal)
	checkRuns(t, "--data-dir", tdir, "--temporal-port", port)
}

// fixedHeader sends every Update with a signature header of the attacker's choosing.
type fixedHeader struct {
	interceptor.ClientInterceptorBase
	payload *commonpb.Payload
}

func (f *fixedHeader) InterceptClient(next interceptor.ClientOutboundInterceptor) interceptor.ClientOutboundInterceptor {
	return &fixedHeaderOutbound{ClientOutboundInterceptorBase: interceptor.ClientOutboundInterceptorBase{Next: next}, payload: f.payload}
}

type fixedHeaderOutbound struct {
	interceptor.ClientOutboundInterceptorBase
	payload *commonpb.Payload
}

func (o *fixedHeaderOutbound) UpdateWorkflow(ctx context.Context, in *interceptor.ClientUpdateWorkflowInput) (client.WorkflowUpdateHandle, error) {
	interceptor.Header(ctx)[workflows.StepHeader] = o.payload
	return o.Next.UpdateWorkflow(ctx, in)
}

// A holder of the service's certificate but not its step key sends a well-formed
// step: unsigned, signed with another key, with a genuine signature taken from the
// history (under a new Update ID, and into another workflow under the genuine one),
// and with garbage in the header. Each is refused before anything is written, the
// record stays as it was, and each refusal is audited as a security event. Signed
// with the service's key, the same step is taken: the forgeries were well-formed.
func TestForgedStepsAreRefused(t *testing.T) {
	if testing.Short() {
		t.Skip("the full run's (forged steps against serve): go test ./...")
	}
	dir := t.TempDir()
	p := startServeEnv(t, []string{EnvAdminPassword + "=" + faultPassword}, "--data-dir", dir, "--http", "127.0.0.1:0", "--temporal-port", "0")
	p.waitReady(t)
	d := newSideDoor(t, p.url, p, p.temporal, filepath.Join(dir, temporalserver.TLSDir), filepath.Join(dir, workflows.StepKeyFile), 2)
	ctx := context.Background()
	pairingID := workflows.PairingWorkflowID(d.pairing.ID)
	step := d.forgedStep(t)
	before := d.record(t)
	service := d.client(t, temporalserver.Service, false) // credentialed, no key

	// The genuine signature of the nomination, from the history as any reader sees it.
	var genuine *updatepb.Request
	it := service.GetWorkflowHistory(ctx, pairingID, "", false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	for it.HasNext() && genuine == nil {
		e, err := it.Next()
		if err != nil {
			t.Fatal(err)
		}
		if a := e.GetWorkflowExecutionUpdateAcceptedEventAttributes(); a != nil && a.GetAcceptedRequest().GetInput().GetName() == workflows.UpdateNominateTeam {
			genuine = a.GetAcceptedRequest()
		}
	}
	if genuine == nil || genuine.GetInput().GetHeader().GetFields()[workflows.StepHeader] == nil {
		t.Fatalf("no signed nomination in %s's history", pairingID)
	}
	otherKey, err := workflows.NewStepKey([]byte(strings.Repeat("k", workflows.StepKeyBytes)))
	if err != nil {
		t.Fatal(err)
	}
	garbage, _ := converter.GetDefaultDataConverter().ToPayload("not a signature")
	send := func(c client.Client, wid string) error {
		cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		h, err := c.UpdateWorkflow(cctx, client.UpdateWorkflowOptions{WorkflowID: wid, UpdateName: workflows.UpdateDecideTeam, Args: []any{step},
			WaitForStage: client.WorkflowUpdateStageCompleted})
		if err != nil {
			return err
		}
		return h.Get(cctx, nil)
	}
	replay := func(wid, updateID string) error {
		cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		resp, err := service.WorkflowService().UpdateWorkflowExecution(cctx, &workflowservice.UpdateWorkflowExecutionRequest{
			Namespace: baocun.DefaultNamespace, WorkflowExecution: &commonpb.WorkflowExecution{WorkflowId: wid},
			WaitPolicy: &updatepb.WaitPolicy{LifecycleStage: enumspb.UPDATE_WORKFLOW_EXECUTION_LIFECYCLE_STAGE_COMPLETED},
			Request:    &updatepb.Request{Meta: &updatepb.Meta{UpdateId: updateID, Identity: "side-door"}, Input: genuine.GetInput()}})
		if err != nil {
			return err
		}
		// A refusal is the outcome's failure, not an error of the call.
		if f := resp.GetOutcome().GetFailure(); f != nil {
			return temporal.GetDefaultFailureConverter().FailureToError(f)
		}
		return errors.New("accepted")
	}
	other := workflows.PairingWorkflowID(d.others[0].ID)
	// Genuinely signed with the service's key, but at the wrong time: captured long
	// ago and sent now, or made to be good in the future.
	key, err := workflows.ReadStepKey(d.stepKey)
	if err != nil {
		t.Fatal(err)
	}
	signedAt := func(at time.Time, updateID string) func() error {
		return func() error {
			h, err := key.Header(pairingID, workflows.UpdateDecideTeam, updateID, at, []any{step})
			if err != nil {
				return err
			}
			cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
			defer cancel()
			uh, err := d.lazy(t, d.opts(t, &fixedHeader{payload: h})).UpdateWorkflow(cctx, client.UpdateWorkflowOptions{UpdateID: updateID,
				WorkflowID: pairingID, UpdateName: workflows.UpdateDecideTeam, Args: []any{step}, WaitForStage: client.WorkflowUpdateStageCompleted})
			if err != nil {
				return err
			}
			return uh.Get(cctx, nil)
		}
	}
	forgeries := []struct {
		name string
		send func() error
	}{
		{"unsigned", func() error { return send(service, pairingID) }},
		{"signed with another key", func() error {
			return send(d.lazy(t, d.opts(t, workflows.SigningInterceptor(otherKey))), pairingID)
		}},
		{"garbage signature", func() error {
			return send(d.lazy(t, d.opts(t, &fixedHeader{payload: garbage})), pairingID)
		}},
		{"genuine signature, new Update ID", func() error { return replay(pairingID, "side-door-replay") }},
		{"genuine signature and ID, another workflow", func() error { return replay(other, genuine.GetMeta().GetUpdateId()) }},
		{"signed 20 minutes ago", signedAt(time.Now().Add(-20*time.Minute), "side-door-stale")},
		{"signed 10 minutes ahead", signedAt(time.Now().Add(10*time.Minute), "side-door-future")},
	}
	for _, f := range forgeries {
		err := f.send()
		var app *temporal.ApplicationError
		if !errors.As(err, &app) || app.Type() != workflows.StepRefused {
			// A raw gRPC answer carries the failure as text.
			if err == nil || !strings.Contains(err.Error(), "Step refused") {
				t.Errorf("%s: %v, want refused for its signature", f.name, err)
			}
		}
	}
	d.checkUnchanged(t, before)

	// Each refusal is a security event in the trail, named by the workflow it aimed at.
	want := map[string]int{pairingID: len(forgeries) - 1, other: 1}
	deadline := time.Now().Add(30 * time.Second)
	for {
		got := map[string]int{}
		entries, err := d.r.auditor.Audit(ctx, url.Values{"action": {"security.step_refused"}})
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range entries {
			if e.Decision != baocun.DecisionDeny || e.Actor == "organiser" {
				t.Fatalf("security event %+v: want denied, not in the claimed actor's name", e)
			}
			got[strings.TrimPrefix(e.Resource, "workflows/")]++
		}
		if reflect.DeepEqual(got, want) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("security events by workflow = %v, want %v", got, want)
		}
		time.Sleep(50 * time.Millisecond)
	}

	// The control: the same step, signed with the service's key, is taken. Sent past
	// the API, nobody writes its answer: the workflow writes it itself within a minute
	// of committing it (docs/DESIGN.md, "A step's write").
	if err := send(d.client(t, temporalserver.Service, true), pairingID); err != nil {
		t.Fatalf("the step signed with the service's key: %v", err)
	}
	for deadline := time.Now().Add(3 * time.Minute); ; time.Sleep(250 * time.Millisecond) {
		v, err := d.r.org.Pairing(ctx, d.pairing.ID)
		if err != nil {
			t.Fatal(err)
		}
		if v.Stage == baocun.StageStationed {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("stage %s three minutes after the signed approval, want %s", v.Stage, baocun.StageStationed)
		}
	}
}

// opts are the service certificate's client options with interceptors of the
// attacker's choosing.
func (d *sideDoor) opts(t *testing.T, ics ...interceptor.ClientInterceptor) client.Options {
	t.Helper()
	conf, err := d.certs.ClientTLS(temporalserver.Service)
	if err != nil {
		t.Fatal(err)
	}
	return client.Options{ConnectionOptions: client.ConnectionOptions{TLS: conf}, Interceptors: ics}
}

// checkInternalPorts: the server's other services (history, matching, the worker
// service, cluster membership) listen on loopback and run no authorizer, so they must
// not admit any certificate a client holds — not the service's, not the operator's —
// even from a client that skips verifying them. The frontend, the control, admits both.
func (d *sideDoor) checkInternalPorts(t *testing.T) {
	t.Helper()
	_, fport, _ := net.SplitHostPort(d.address)
	ports := listeningPorts(t, d.pid)
	if len(ports) < 5 {
		t.Fatalf("process %d listens on %v: fewer ports than the server's services", d.pid, ports)
	}
	for _, who := range []string{temporalserver.Service, temporalserver.Operator} {
		conf, err := d.certs.ClientTLS(who)
		if err != nil {
			t.Fatal(err)
		}
		conf.InsecureSkipVerify = true // the attacker's choice: talk to whatever answers
		conf.NextProtos = []string{"h2"}
		for _, port := range ports {
			accepted := tlsAccepts(net.JoinHostPort("127.0.0.1", port), conf)
			if port == fport && !accepted {
				t.Errorf("the frontend (%s) refused %s's certificate", port, who)
			}
			if port != fport && accepted {
				t.Errorf("port %s of process %d admits %s's certificate: a side door past the frontend's authorizer", port, d.pid, who)
			}
		}
	}
}

// tlsAccepts reports whether a TLS server at addr admits conf's client certificate:
// a gRPC server that does sends its HTTP/2 settings at once; one that does not ends
// the connection with an alert (TLS 1.3 sends it after the handshake).
func tlsAccepts(addr string, conf *tls.Config) bool {
	conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", addr, conf)
	if err != nil {
		return false
	}
	defer conn.Close()
	conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	n, err := conn.Read(make([]byte, 64))
	return n > 0 && err == nil
}

// listeningPorts are the TCP ports process pid listens on, read from /proc: the
// sockets among its open files that /proc/net/tcp{,6} lists as listening.
func listeningPorts(t *testing.T, pid int) []string {
	t.Helper()
	fds, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		t.Fatal(err)
	}
	inodes := map[string]bool{}
	for _, fd := range fds {
		if l, err := os.Readlink(fmt.Sprintf("/proc/%d/fd/%s", pid, fd.Name())); err == nil {
			if in, ok := strings.CutPrefix(l, "socket:["); ok {
				inodes[strings.TrimSuffix(in, "]")] = true
			}
		}
	}
	var ports []string
	for _, table := range []string{"tcp", "tcp6"} {
		data, err := os.ReadFile(fmt.Sprintf("/proc/%d/net/%s", pid, table))
		if err != nil {
			t.Fatal(err)
		}
		for _, line := range strings.Split(string(data), "\n")[1:] {
			f := strings.Fields(line)
			// sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode
			if len(f) < 10 || f[3] != "0A" || !inodes[f[9]] {
				continue
			}
			_, hexPort, _ := strings.Cut(f[1], ":")
			port, err := strconv.ParseUint(hexPort, 16, 16)
			if err != nil {
				t.Fatal(err)
			}
			ports = append(ports, strconv.FormatUint(port, 10))
		}
	}
	return ports
}
