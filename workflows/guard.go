package workflows

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"reflect"
	"strings"
	"time"

	commonpb "go.temporal.io/api/common/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/interceptor"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"baocun/keyfile"
)

// Signed steps. A step's Update carries who acts and the audit entry the web layer
// drafted; a workflow must not take them on trust from whoever can reach the Temporal
// frontend. So the service's own client signs every Update it sends (an HMAC-SHA256
// in the Update's header, over the workflow, the Update's name and ID, the time and
// the arguments), and the service's worker refuses, before the workflow's own
// validator runs and so before anything is written, an Update whose signature is
// missing, wrong, stale, or made for another workflow, Update or ID. Workflows never
// see the key; the check is the worker's interceptor (validators do not run on
// replay, so recorded histories replay unchanged).
//
// The signed message is
//
//	HMAC-SHA256(key, "baocun-step-v1" ‖ for each field: uint32 big-endian length ‖ bytes)
//
// over: workflow ID, Update name, Update ID, signing time (RFC 3339, nanoseconds,
// UTC), and each argument's JSON as the workflow decodes it (the argument encoded,
// decoded into its own type and encoded again, so that what is signed is what the
// workflow will read).
const (
	// StepHeader is the Update header that carries the signature.
	StepHeader = "baocun-step-signature"
	// StepRefused is the application error type of a refused signature.
	StepRefused = "step_signature"
	// StepKeyFile is the key's file name in the data dir.
	StepKeyFile = "step-hmac.key"

	stepVersion = "baocun-step-v1"
	// A signature is good from a little before the workflow's clock (another
	// instance's clock may run ahead) until well after: a step may wait for its
	// workflow behind others for minutes when the engine is loaded.
	stepSkew   = 2 * time.Minute
	stepMaxAge = 15 * time.Minute
	// StepKeyBytes is the length of a generated key; shorter keys are refused.
	StepKeyBytes = 32
)

// StepKey signs Updates in the service's clients and checks them in its workers.
// Every instance of one deployment holds the same key.
type StepKey struct {
	secret []byte
	id     string
}

// NewStepKey wraps a secret of at least StepKeyBytes bytes.
func NewStepKey(secret []byte) (*StepKey, error) {
	if len(secret) < StepKeyBytes {
		return nil, fmt.Errorf("step key: %d bytes, want at least %d", len(secret), StepKeyBytes)
	}
	sum := sha256.Sum256(append([]byte(stepVersion+"/key-id\x00"), secret...))
	return &StepKey{secret: append([]byte(nil), secret...), id: hex.EncodeToString(sum[:8])}, nil
}

// ID names the key in signatures without revealing it.
func (k *StepKey) ID() string { return k.id }

// stepSignature is the header's payload.
type stepSignature struct {
	Version string    `json:"v"`
	KeyID   string    `json:"key"`
	At      time.Time `json:"at"`
	MAC     string    `json:"mac"`
}

func (k *StepKey) mac(workflowID, update, updateID string, at time.Time, args [][]byte) []byte {
	m := hmac.New(sha256.New, k.secret)
	m.Write([]byte(stepVersion))
	field := func(b []byte) {
		m.Write(binary.BigEndian.AppendUint32(nil, uint32(len(b))))
		m.Write(b)
	}
	field([]byte(workflowID))
	field([]byte(update))
	field([]byte(updateID))
	field([]byte(at.UTC().Format(time.RFC3339Nano)))
	for _, a := range args {
		field(a)
	}
	return m.Sum(nil)
}

// sign is the header payload for an Update.
func (k *StepKey) sign(workflowID, update, updateID string, at time.Time, args []any) (stepSignature, error) {
	canon := make([][]byte, len(args))
	for i, a := range args {
		b, err := json.Marshal(a)
		if err != nil {
			return stepSignature{}, err
		}
		if a != nil {
			v := reflect.New(reflect.TypeOf(a))
			if err := json.Unmarshal(b, v.Interface()); err != nil {
				return stepSignature{}, err
			}
			if b, err = json.Marshal(v.Elem().Interface()); err != nil {
				return stepSignature{}, err
			}
		}
		canon[i] = b
	}
	return stepSignature{Version: stepVersion, KeyID: k.id, At: at.UTC(), MAC: hex.EncodeToString(k.mac(workflowID, update, updateID, at, canon))}, nil
}

// Header is the StepHeader payload signing an Update of workflowID named update, with
// ID updateID and arguments args, at time at.
func (k *StepKey) Header(workflowID, update, updateID string, at time.Time, args []any) (*commonpb.Payload, error) {
	sig, err := k.sign(workflowID, update, updateID, at, args)
	if err != nil {
		return nil, fmt.Errorf("sign step %s: %w", update, err)
	}
	return converter.GetDefaultDataConverter().ToPayload(sig)
}

// Refusal is a step the worker refused for its signature: a security event.
type Refusal struct {
	WorkflowID string
	Update     string
	UpdateID   string
	Reason     string
	// Actor is who the step claims to act for ("" when it names nobody); it is
	// a claim, not an identity.
	Actor string
}

// check verifies the signature of the Update in flight on ctx; it returns why it is
// refused, or "".
func (k *StepKey) check(ctx workflow.Context, in *interceptor.UpdateInput) string {
	p := interceptor.WorkflowHeader(ctx)[StepHeader]
	if p == nil {
		return "unsigned: no " + StepHeader + " header"
	}
	var sig stepSignature
	if err := converter.GetDefaultDataConverter().FromPayload(p, &sig); err != nil {
		return "malformed signature: " + clip(err.Error())
	}
	if sig.Version != stepVersion {
		return fmt.Sprintf("unknown signature version %q", clip(sig.Version))
	}
	if sig.KeyID != k.id {
		return fmt.Sprintf("signed with another key (%q, want %s)", clip(sig.KeyID), k.id)
	}
	mac, err := hex.DecodeString(sig.MAC)
	if err != nil {
		return "malformed signature: " + clip(err.Error())
	}
	args := make([][]byte, len(in.Args))
	for i, a := range in.Args {
		if args[i], err = json.Marshal(a); err != nil {
			return "arguments do not encode: " + err.Error()
		}
	}
	u := workflow.GetCurrentUpdateInfo(ctx)
	if u == nil {
		return "no Update in flight"
	}
	want := k.mac(workflow.GetInfo(ctx).WorkflowExecution.ID, in.Name, u.ID, sig.At, args)
	if !hmac.Equal(mac, want) {
		return "signature does not match (forged, altered, or made for another workflow, Update or ID)"
	}
	now := workflow.Now(ctx)
	if sig.At.After(now.Add(stepSkew)) || now.Sub(sig.At) > stepMaxAge {
		return fmt.Sprintf("signature made at %s, outside the %s it is good for (replayed?)", sig.At.Format(time.RFC3339), stepMaxAge)
	}
	return ""
}

// clip bounds what a refused sender controls before it reaches the logs and the
// audit trail.
func clip(s string) string {
	const max = 64
	if r := []rune(s); len(r) > max {
		return string(r[:max]) + "…"
	}
	return s
}

// SigningInterceptor is the client interceptor of the service's own Temporal client:
// it signs every Update the client sends.
func SigningInterceptor(k *StepKey) interceptor.ClientInterceptor {
	return &signing{key: k}
}

type signing struct {
	interceptor.ClientInterceptorBase
	key *StepKey
}

func (s *signing) InterceptClient(next interceptor.ClientOutboundInterceptor) interceptor.ClientOutboundInterceptor {
	return &signingOutbound{ClientOutboundInterceptorBase: interceptor.ClientOutboundInterceptorBase{Next: next}, key: s.key}
}

type signingOutbound struct {
	interceptor.ClientOutboundInterceptorBase
	key *StepKey
}

func (o *signingOutbound) UpdateWorkflow(ctx context.Context, in *interceptor.ClientUpdateWorkflowInput) (client.WorkflowUpdateHandle, error) {
	p, err := o.key.Header(in.WorkflowID, in.UpdateName, in.UpdateID, time.Now(), in.Args)
	if err != nil {
		return nil, err
	}
	h := interceptor.Header(ctx)
	if h == nil {
		return nil, errors.New("sign step: no header to write to")
	}
	h[StepHeader] = p
	return o.Next.UpdateWorkflow(ctx, in)
}

// UpdateWithStartWorkflow is not signed (Baocun never sends one): it is refused here,
// by name, rather than refused unsigned by the worker.
func (o *signingOutbound) UpdateWithStartWorkflow(ctx context.Context, in *interceptor.ClientUpdateWithStartWorkflowInput) (client.WorkflowUpdateHandle, error) {
	return nil, errors.New("sign step: update-with-start is not signed; start the workflow, then send the step")
}

// GuardInterceptor is the worker interceptor that refuses Updates without a good
// signature. refused hears of each refusal; it is called from workflow code, so it
// must neither block nor fail (hand the event to another goroutine).
func GuardInterceptor(k *StepKey, refused func(Refusal)) interceptor.WorkerInterceptor {
	return &guard{key: k, refused: refused}
}

type guard struct {
	interceptor.WorkerInterceptorBase
	key     *StepKey
	refused func(Refusal)
}

func (g *guard) InterceptWorkflow(ctx workflow.Context, next interceptor.WorkflowInboundInterceptor) interceptor.WorkflowInboundInterceptor {
	return &guardInbound{WorkflowInboundInterceptorBase: interceptor.WorkflowInboundInterceptorBase{Next: next}, g: g}
}

type guardInbound struct {
	interceptor.WorkflowInboundInterceptorBase
	g *guard
}

func (i *guardInbound) ValidateUpdate(ctx workflow.Context, in *interceptor.UpdateInput) error {
	if reason := i.g.key.check(ctx, in); reason != "" {
		r := Refusal{WorkflowID: workflow.GetInfo(ctx).WorkflowExecution.ID, Update: in.Name, Reason: reason}
		if u := workflow.GetCurrentUpdateInfo(ctx); u != nil {
			r.UpdateID = u.ID
		}
		for _, a := range in.Args {
			switch st := a.(type) {
			case Step:
				r.Actor = clip(st.Actor)
			case CycleStep:
				r.Actor = clip(st.Actor)
			}
		}
		if i.g.refused != nil {
			i.g.refused(r)
		}
		return temporal.NewNonRetryableApplicationError("步骤签名无效，已拒绝 Step refused: "+reason, StepRefused, nil)
	}
	return i.Next.ValidateUpdate(ctx, in)
}

// ReadStepKey reads the key file at path: the secret in hex. A missing file is an
// error wrapping fs.ErrNotExist (a first start creates it with CreateStepKey).
func ReadStepKey(path string) (*StepKey, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, err
		}
		return nil, stepKeyErr(path, err)
	}
	secret, err := hex.DecodeString(strings.TrimSpace(string(data)))
	if err != nil {
		return nil, stepKeyErr(path, errors.New("not hex"))
	}
	k, err := NewStepKey(secret)
	if err != nil {
		return nil, stepKeyErr(path, err)
	}
	return k, nil
}

// CreateStepKey writes a new random key to path (0600), or reads the one another
// process wrote there first.
func CreateStepKey(path string) (*StepKey, error) {
	secret := make([]byte, StepKeyBytes)
	if _, err := rand.Read(secret); err != nil {
		return nil, err
	}
	if _, err := keyfile.Create(path, []byte(hex.EncodeToString(secret)+"\n"), 0o600); err != nil {
		return nil, stepKeyErr(path, err)
	}
	return ReadStepKey(path)
}

func stepKeyErr(path string, err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		err = pe.Err
	}
	return fmt.Errorf("步骤签名密钥不可用 step key %s unusable: %v", path, err)
}
