// Package policy decides who may do what: the Casbin model and default policy
// (embedded), and an Enforcer that keeps the policy the application database holds
// and answers one question per request — may this user do this action on this
// resource, and by which rule.
//
// The database is the only source of truth. Every decision first checks the
// database's policy version (one indexed read) and reloads when another instance or
// an admin changed it, so a revoked role stops working at once, on every instance,
// and no cached decision can outlive a revocation.
package policy

import (
	"context"
	_ "embed"
	"encoding/csv"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/casbin/casbin/v2"
	"github.com/casbin/casbin/v2/model"
	"github.com/casbin/casbin/v2/persist"

	"baocun"
)

var (
	//go:embed model.conf
	modelText string
	//go:embed policy.csv
	defaultPolicy string
)

// Scopes: how the caller must relate to the resource for a rule to apply.
const (
	ScopeAny        = "any"
	ScopeOwnDept    = "own_dept"
	ScopeOwnPairing = "own_pairing"
	ScopeOwnVillage = "own_village"
)

// Rule is one line of the policy as Casbin stores it: "p" rules grant a role an
// action ("p", role, object, action, scope, effect); "g" rules grant a user a role in
// a jurisdiction ("g", username, role, jurisdiction).
type Rule []string

func (r Rule) String() string { return strings.Join(r, ", ") }

// DefaultRows are the default rules in the form the Store keeps them.
func DefaultRows() [][]string {
	var out [][]string
	for _, r := range DefaultRules() {
		out = append(out, []string(r))
	}
	return out
}

// Addition is default rules a release added after databases were first seeded: a
// database seeded before it gets them once (Store.AddPolicyRules, audited), and
// one seeded later has them from policy.csv already.
type Addition struct {
	Name  string
	Rules []Rule
}

// Additions, oldest first. Every rule here is in policy.csv too (a test checks).
var Additions = []Addition{
	{Name: "accounts", Rules: []Rule{{"p", "admin", "user", "update", "any", "allow"}}},
}

// DefaultRules are the embedded default permissions (p rules).
func DefaultRules() []Rule {
	rd := csv.NewReader(strings.NewReader(defaultPolicy))
	rd.Comment = '#'
	rd.TrimLeadingSpace = true
	rd.FieldsPerRecord = -1
	recs, err := rd.ReadAll()
	if err != nil {
		panic(fmt.Sprintf("policy.csv: %v", err)) // embedded at build time; a test reads it
	}
	out := make([]Rule, 0, len(recs))
	for _, r := range recs {
		out = append(out, Rule(r))
	}
	return out
}

// Store is where the policy lives.
type Store interface {
	// PolicyRules returns every rule and the version they are at.
	PolicyRules(ctx context.Context) ([][]string, int64, error)
	// PolicyVersion returns the current version; it changes with every rule change.
	PolicyVersion(ctx context.Context) (int64, error)
}

// DefaultDeny is the rule named when no rule allows a request.
const DefaultDeny = "default deny: no rule allows it"

// Enforcer answers access requests against the database's policy; it implements
// baocun.Authorizer.
type Enforcer struct {
	store Store

	mu      sync.RWMutex
	c       *compiled
	version int64
}

// compiled is one loaded policy: a Casbin enforcer per object type, each holding only
// that object's p rules and sharing one role manager with every g rule. Casbin
// evaluates the matcher once per p rule, so splitting by object makes a decision cost
// a handful of rule evaluations rather than all of them (BenchmarkDecide).
type compiled struct {
	byObject map[string]*casbin.SyncedEnforcer
}

// New loads the policy from store.
func New(ctx context.Context, store Store) (*Enforcer, error) {
	en := &Enforcer{store: store, version: -1}
	if err := en.reload(ctx); err != nil {
		return nil, err
	}
	return en, nil
}

// Decide answers r with the policy as the database holds it now.
func (en *Enforcer) Decide(ctx context.Context, r baocun.AccessRequest) (baocun.AccessDecision, error) {
	v, err := en.store.PolicyVersion(ctx)
	if err != nil {
		return baocun.AccessDecision{}, err
	}
	en.mu.RLock()
	stale := v != en.version
	en.mu.RUnlock()
	if stale {
		if err := en.reload(ctx); err != nil {
			return baocun.AccessDecision{}, err
		}
	}
	return en.decide(r)
}

// decide enforces against the loaded policy without checking its version: for the
// benchmark of the decision itself.
func (en *Enforcer) decide(r baocun.AccessRequest) (baocun.AccessDecision, error) {
	en.mu.RLock()
	c := en.c
	en.mu.RUnlock()
	e, found := c.byObject[r.Object]
	if !found {
		return baocun.AccessDecision{Rule: DefaultDeny}, nil
	}
	ok, explain, err := e.EnforceEx(userPrefix+r.User, r.Jurisdiction, r.Object, r.Action, strings.Join(r.Relations, " "))
	if err != nil {
		return baocun.AccessDecision{}, fmt.Errorf("policy: %w", err)
	}
	d := baocun.AccessDecision{Allowed: ok, Rule: DefaultDeny}
	if len(explain) > 0 {
		d.Rule = "p, " + strings.TrimPrefix(strings.Join(explain, ", "), rolePrefix)
	}
	return d, nil
}

// reload builds a new Casbin enforcer from the store and swaps it in whole, so a
// decision never sees half a policy.
func (en *Enforcer) reload(ctx context.Context) error {
	rules, version, err := en.store.PolicyRules(ctx)
	if err != nil {
		return err
	}
	c, err := compile(asRules(rules))
	if err != nil {
		return err
	}
	en.mu.Lock()
	if version >= en.version {
		en.c, en.version = c, version
	}
	en.mu.Unlock()
	return nil
}

func asRules(rows [][]string) []Rule {
	out := make([]Rule, len(rows))
	for i, r := range rows {
		out[i] = Rule(r)
	}
	return out
}

// Subjects are namespaced inside Casbin: a user and a role of the same name (an
// account called "auditor", say) must never be taken for each other, and Casbin's
// role manager treats equal names as linked.
const (
	userPrefix = "u:"
	rolePrefix = "r:"
)

func compile(rules []Rule) (*compiled, error) {
	var grants []Rule
	perObject := map[string][]Rule{}
	for _, r := range rules {
		switch {
		case len(r) == 4 && r[0] == "g":
			grants = append(grants, Rule{"g", userPrefix + r[1], rolePrefix + r[2], r[3]})
		case len(r) == 6 && r[0] == "p":
			perObject[r[2]] = append(perObject[r[2]], Rule{"p", rolePrefix + r[1], r[2], r[3], r[4], r[5]})
		default:
			return nil, fmt.Errorf("policy: malformed rule %v", r)
		}
	}
	roles, err := newCasbin(grants)
	if err != nil {
		return nil, err
	}
	rm := roles.GetRoleManager()
	c := &compiled{byObject: make(map[string]*casbin.SyncedEnforcer, len(perObject))}
	for obj, ps := range perObject {
		e, err := newCasbin(ps)
		if err != nil {
			return nil, err
		}
		// The matcher's g() reads the model's role manager, SetRoleManager only the
		// enforcer's map: set both. Nothing rebuilds role links afterwards (a new
		// policy is a new compiled), so the shared manager is never cleared.
		e.SetRoleManager(rm)
		e.GetModel()["g"]["g"].RM = rm
		c.byObject[obj] = e
	}
	return c, nil
}

func newCasbin(rules []Rule) (*casbin.SyncedEnforcer, error) {
	m, err := model.NewModelFromString(modelText)
	if err != nil {
		return nil, fmt.Errorf("policy model: %w", err)
	}
	e, err := casbin.NewSyncedEnforcer(m, rulesAdapter(rules))
	if err != nil {
		return nil, fmt.Errorf("policy: %w", err)
	}
	e.AddFunction("hasScope", hasScope)
	return e, nil
}

// hasScope(rel, scope) reports whether the space-separated relations include scope.
func hasScope(args ...any) (any, error) {
	if len(args) != 2 {
		return false, errors.New("hasScope takes two arguments")
	}
	rel, _ := args[0].(string)
	scope, _ := args[1].(string)
	for _, f := range strings.Fields(rel) {
		if f == scope {
			return true, nil
		}
	}
	return false, nil
}

// rulesAdapter hands Casbin a loaded rule set. Writes never go through Casbin: the
// store changes rules in its own transactions (with the audit entry), and the
// enforcer reloads.
type rulesAdapter []Rule

func (a rulesAdapter) LoadPolicy(m model.Model) error {
	for _, r := range a {
		if err := persist.LoadPolicyArray(r, m); err != nil {
			return err
		}
	}
	return nil
}

var errReadOnly = errors.New("policy: rules change through the store, not through Casbin")

func (a rulesAdapter) SavePolicy(model.Model) error                { return errReadOnly }
func (a rulesAdapter) AddPolicy(string, string, []string) error    { return errReadOnly }
func (a rulesAdapter) RemovePolicy(string, string, []string) error { return errReadOnly }
func (a rulesAdapter) RemoveFilteredPolicy(string, string, int, ...string) error {
	return errReadOnly
}
