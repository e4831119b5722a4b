package web

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/gin-gonic/gin"

	"baocun"
)

// Human steps: a request read into a workflow step and sent as an Update, under an
// Idempotency-Key when the client names one.

// stepRoute is a human step on a pairing: it reads the body into the Step, checks
// what only the database knows (people of the department), and sends it to the
// engine.
func stepRoute(d Deps, kind baocun.StepKind, read func(c *gin.Context, p *baocun.Pairing, st *baocun.Step) (any, error)) gin.HandlerFunc {
	return func(c *gin.Context) {
		p := loadedPairing(c)
		u := currentUser(c)
		st := baocun.Step{Kind: kind, Pairing: p.ID, Actor: u.Username, Person: u.PersonID}
		payload, err := read(c, p, &st)
		if err == nil {
			err = checkEvidence(c, d, p.ID, payload)
		}
		if err == nil {
			err = heldElsewhere(c.Request.Context(), d, u, p.ID, st)
		}
		var no *denial
		if errors.As(err, &no) {
			action := no.action
			if action == "" {
				action = routeAction(c)
			}
			forbid(c, d, action, no.rule)
			return
		}
		if err != nil {
			Error(c, err)
			return
		}
		sendStep(c, d, st, payload)
	}
}

// denial is a read's refusal of the caller, which the policy could not see (it
// depends on the body): answered 403 and audited as a denial.
type denial struct{ action, rule string }

func (d *denial) Error() string { return d.action + ": " + d.rule }

// checkEvidence refuses an input naming a file that is not its pairing's (one of
// another pairing, or none), or one the caller may not read (a spot check's
// photograph, named by the team it checked), naming the field, as the same "no such
// file": a step or record shows only its own pairing's evidence, and only what its
// author could see.
func checkEvidence(c *gin.Context, d Deps, pairingID int64, in any) error {
	ev, ok := in.(interface{ FileIDs() []string })
	if !ok {
		return nil
	}
	ids := ev.FileIDs()
	refuse := func(id string) error {
		field := fmt.Sprintf("files[%d]", slices.Index(ids, id))
		if ff, ok := in.(interface{ FileField(string) string }); ok {
			field = ff.FileField(id)
		}
		return baocun.NoSuchFile(field, pairingID, id)
	}
	missing, err := d.Store.NotFiles(c.Request.Context(), pairingID, ids)
	if err != nil {
		return err
	}
	if len(missing) > 0 {
		return refuse(missing[0])
	}
	may := map[string]bool{} // a record's read permission → the caller's
	for _, id := range ids {
		kinds, err := d.Store.FileKinds(c.Request.Context(), id)
		if err != nil {
			return err
		}
		for _, k := range kinds {
			obj, ok := recordReads[k]
			if !ok {
				continue
			}
			allowed, seen := may[obj]
			if !seen {
				if allowed, err = mayAlso(c, d, obj, "read"); err != nil {
					return err
				}
				may[obj] = allowed
			}
			if !allowed {
				return refuse(id)
			}
		}
	}
	return nil
}

// sendStep hands a step to the engine and answers with what it did. Once sent, a
// step is waited for even if the caller goes away: its outcome is recorded once, by
// the workflow or (refused) by the gate.
//
// A client that may send a step again (it timed out, say) names it with an
// Idempotency-Key header: the same user sending the same body to the same path
// under the same key gets the first answer, and the step is taken once. The key
// becomes the step's chain of engine keys (baocun.Step.Keys): a repeat gets the
// first attempt's answer, in flight or done; an attempt refused after the engine
// accepted it (another step got there first) took nothing, so a repeat tries again.
// A step repeated after its pairing's period has ended is answered as a new one
// (409: decided already).
func sendStep(c *gin.Context, d Deps, st baocun.Step, payload any) {
	st.Audit = *auditEntry(c, http.StatusOK, payload)
	keys, err := stepKeys(c, payload)
	if err != nil {
		c.Set(ctxAudited, false) // the gate records the refusal, with what was sent
		Error(c, err)
		return
	}
	st.Keys = keys
	ctx, cancel := context.WithTimeout(context.WithoutCancel(c.Request.Context()), engineTimeout)
	defer cancel()
	res, err := d.Engine.Step(ctx, st)
	if err != nil {
		if !errors.Is(err, baocun.ErrUnwritten) {
			c.Set(ctxAudited, false) // nothing was written: the gate records the refusal
		} // else taken: the step's own entry records the request, with its change
		Error(c, err)
		return
	}
	if res.Request != "" && res.Request != c.GetString(ctxReqID) {
		// A repeat, answered from the first request: this one wrote nothing, so the
		// gate records it (allowed, and how it ended).
		c.Set(ctxAudited, false)
	}
	c.JSON(http.StatusOK, res)
}

// idempotencyKey is the header a client names a step with (IETF draft
// "The Idempotency-Key HTTP Header Field").
const idempotencyKey = "Idempotency-Key"

// maxAttempts bounds the engine keys one Idempotency-Key names.
const maxAttempts = 20

// stepKeys are the step's engine keys: none without an Idempotency-Key, else a chain
// derived from the user, the path, the key and the body, so a key reused for a
// different step names different steps.
func stepKeys(c *gin.Context, payload any) ([]string, error) {
	key := c.GetHeader(idempotencyKey)
	if key == "" {
		return nil, nil
	}
	if len(key) > 255 || strings.IndexFunc(key, func(r rune) bool { return r < 0x21 || r > 0x7e }) >= 0 {
		return nil, fieldError(idempotencyKey, idempotencyKey+": 须为 1–255 个可见 ASCII 字符 must be 1 to 255 visible ASCII characters")
	}
	if k, ok := payload.(interface{ stepKey() any }); ok {
		payload = k.stepKey()
	}
	body, err := json.Marshal(payload)
	if err != nil {
		return nil, err
	}
	sum := sha256.New()
	for _, part := range []string{currentUser(c).Username, c.Request.Method, c.Request.URL.Path, key} {
		sum.Write([]byte(part))
		sum.Write([]byte{0})
	}
	sum.Write(body)
	base := "step-" + hex.EncodeToString(sum.Sum(nil))
	keys := []string{base}
	for n := 2; n <= maxAttempts; n++ {
		keys = append(keys, fmt.Sprintf("%s/%d", base, n))
	}
	return keys, nil
}

// departmentPeople checks that every person is of the pairing's department and
// returns their names.
func departmentPeople(c *gin.Context, store Store, dept string, field string, ids ...string) (map[string]string, error) {
	people, err := store.People(c.Request.Context(), dept)
	if err != nil {
		return nil, err
	}
	names := map[string]string{}
	for _, p := range people {
		names[p.ID] = p.Name
	}
	out := map[string]string{}
	for _, id := range ids {
		name, ok := names[id]
		if !ok {
			return nil, fieldError(field, fmt.Sprintf("%s: %q 不是本部门（%s）人员 %q is not a person of department %s", field, id, dept, id, dept))
		}
		out[id] = name
	}
	return out, nil
}

func readTeam(store Store) func(c *gin.Context, p *baocun.Pairing, st *baocun.Step) (any, error) {
	return func(c *gin.Context, p *baocun.Pairing, st *baocun.Step) (any, error) {
		var in baocun.TeamInput
		if err := decodeJSON(c, &in); err != nil {
			return nil, err
		}
		ids := []string{}
		for _, m := range in.Team() {
			ids = append(ids, m.PersonID)
		}
		names, err := departmentPeople(c, store, p.Department, "members", ids...)
		if err != nil {
			return nil, err
		}
		if err := oneTeam(c, store, p, "members", true, ids...); err != nil {
			return nil, err
		}
		st.Team, st.Names = &in, names
		return in, nil
	}
}

func readChange(store Store) func(c *gin.Context, p *baocun.Pairing, st *baocun.Step) (any, error) {
	return func(c *gin.Context, p *baocun.Pairing, st *baocun.Step) (any, error) {
		var in baocun.TeamChangeInput
		if err := decodeJSON(c, &in); err != nil {
			return nil, err
		}
		ids := append([]string{}, in.Add...)
		if in.Leader != "" {
			ids = append(ids, in.Leader)
		}
		names, err := departmentPeople(c, store, p.Department, "add", ids...)
		if err != nil {
			return nil, err
		}
		if err := oneTeam(c, store, p, "add", true, in.Add...); err != nil {
			return nil, err
		}
		st.Change, st.Names = &in, names
		return in, nil
	}
}

// oneTeam refuses a person already on the team of another running pairing: one
// person serves on one active team at a time (SPEC.md "Field records"). A nomination
// or a change (pending) is refused for someone proposed elsewhere too; an approval is
// checked against the approved teams only, so two proposals do not block each other's
// approval, and the second approved is refused.
func oneTeam(c *gin.Context, store Store, p *baocun.Pairing, field string, pending bool, ids ...string) error {
	for _, id := range ids {
		other, err := store.ServingPairing(c.Request.Context(), id, p.ID, pending)
		if err != nil {
			return err
		}
		if other != nil {
			return &baocun.Error{Code: baocun.ECONFLICT, Fields: map[string]string{field: id + " serves on pairing " + fmt.Sprint(other.ID)},
				Message: fmt.Sprintf("%s 已在结对 %d（%s → %s，%s）的工作组：一人同时只在一个工作组 %s already serves on the team of pairing %d (%s → %s, %s): one active team at a time.",
					id, other.ID, other.Department, other.Village, baocun.StageNames[other.Stage], id, other.ID, other.Department, other.Village, other.Stage)}
		}
	}
	return nil
}

// readTeamDecision is the organiser's decision on a team or a team change: an
// approval is refused while someone proposed serves on another running team.
func readTeamDecision(store Store) func(c *gin.Context, p *baocun.Pairing, st *baocun.Step) (any, error) {
	read := readInto(func(st *baocun.Step, v *baocun.DecisionInput) { st.Decision = v })
	return func(c *gin.Context, p *baocun.Pairing, st *baocun.Step) (any, error) {
		v, err := read(c, p, st)
		if err != nil {
			return v, err
		}
		return v, approvableTeam(c, store, p, st.Decision.Outcome)
	}
}

// approvableTeam refuses an approval of a pairing's proposed team while someone
// proposed serves on another running team.
func approvableTeam(c *gin.Context, store Store, p *baocun.Pairing, outcome string) error {
	if outcome != baocun.OutcomeApprove {
		return nil
	}
	team, err := store.Proposed(c.Request.Context(), p.ID)
	if err != nil {
		return err
	}
	var ids []string
	for _, m := range team {
		if !p.OnTeam(m.PersonID) {
			ids = append(ids, m.PersonID)
		}
	}
	return oneTeam(c, store, p, "task_id", false, ids...)
}

// readInto decodes the body into a new T and sets it on the Step.
func readInto[T any](set func(st *baocun.Step, v *T)) func(c *gin.Context, p *baocun.Pairing, st *baocun.Step) (any, error) {
	return func(c *gin.Context, p *baocun.Pairing, st *baocun.Step) (any, error) {
		v := new(T)
		if err := decodeJSON(c, v); err != nil {
			return nil, err
		}
		// Checked here too, so the error names its field; the workflow checks again.
		if val, ok := any(v).(interface{ Validate() error }); ok {
			if err := val.Validate(); err != nil {
				return nil, err
			}
		}
		set(st, v)
		return v, nil
	}
}

// readEvaluation reads the yearly evaluation; the cadres it rates by name are the
// pairing's team's.
func readEvaluation(c *gin.Context, p *baocun.Pairing, st *baocun.Step) (any, error) {
	v, err := readInto(func(st *baocun.Step, v *baocun.EvaluationInput) { st.Evaluation = v })(c, p, st)
	if err != nil {
		return nil, err
	}
	if u := currentUser(c); u.PersonID != "" && p.OnTeam(u.PersonID) {
		return nil, &denial{"evaluation.submit", "nobody on the team evaluates it"}
	}
	ev := st.Evaluation
	if strings.TrimSpace(ev.GrassrootsRespondent) == "" {
		return nil, fieldError("grassroots_respondent", "grassroots_respondent: 须写明基层评议的村委会或乡镇 say which village committee or township gave the grass-roots rating")
	}
	// Every member of the team is rated, by name, and nobody else.
	for i, r := range ev.Cadres {
		if !p.OnTeam(r.PersonID) {
			return nil, fieldError(fmt.Sprintf("cadres[%d].person_id", i), fmt.Sprintf("cadres[%d].person_id: %s 不在本结对工作组 %s is not on this pairing's team", i, r.PersonID, r.PersonID))
		}
	}
	for _, m := range p.Team {
		if !slices.ContainsFunc(ev.Cadres, func(r baocun.CadreRating) bool { return r.PersonID == m.PersonID }) {
			return nil, fieldError("cadres", fmt.Sprintf("cadres: 须评议工作组每名成员，缺 %s %s every member of the team is rated: %s is not", m.PersonID, m.Name, m.PersonID))
		}
	}
	return v, nil
}

// readArrival takes an empty body (or {}).
func readArrival(c *gin.Context, p *baocun.Pairing, st *baocun.Step) (any, error) {
	if c.Request.ContentLength == 0 {
		return nil, nil
	}
	var v struct{}
	return nil, decodeJSON(c, &v)
}

func readCancel(c *gin.Context, p *baocun.Pairing, st *baocun.Step) (any, error) {
	var req cancelRequest
	if err := decodeJSON(c, &req); err != nil {
		return nil, err
	}
	st.Reason = strings.TrimSpace(req.Reason)
	return req, nil
}
