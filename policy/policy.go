// Package policy decides who may do what: the Casbin model and default policy
// (embedded), and an Enforcer that keeps the policy the application database holds
// and answers one question per request — may this user do this action on this
// resource, and by which rule.
//
// The database is the only source of truth. Every decision first checks the
// database's policy version (one indexed read) and reloads when another instance or
// an admin changed it, so a revoked role stops working at once, on every instance.
// Decisions are cached, but only within the policy version they were computed at: the
// cache belongs to one loaded policy and goes with it, so no cached decision can
// outlive a revocation, and a version read that fails answers nothing from it.
package policy

import (
	"context"
	_ "embed"
	"encoding/csv"
	"errors"
	"fmt"
	"hash/maphash"
	"strings"
	"sync"
	"sync/atomic"

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
	ScopeTeamLeader = "team_leader"
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
	{Name: "field-records", Rules: []Rule{
		{"p", "team_member", "residency", "read", "own_pairing", "allow"},
		{"p", "dept_lead", "residency", "read", "own_dept", "allow"},
		{"p", "organiser", "residency", "read", "any", "allow"},
		{"p", "reviewer", "residency", "read", "any", "allow"},
		{"p", "village", "residency", "read", "own_village", "allow"},
		{"p", "auditor", "residency", "read", "any", "allow"},
		{"p", "team_member", "residency", "confirm", "team_leader", "allow"},
		{"p", "dept_lead", "residency", "confirm", "own_dept", "allow"},
		{"p", "village", "residency", "village_confirm", "own_village", "allow"},
		{"p", "team_member", "leave", "request", "own_pairing", "allow"},
		{"p", "team_member", "leave", "read", "own_pairing", "allow"},
		{"p", "dept_lead", "leave", "read", "own_dept", "allow"},
		{"p", "organiser", "leave", "read", "any", "allow"},
		{"p", "auditor", "leave", "read", "any", "allow"},
		{"p", "dept_lead", "leave", "approve", "own_dept", "allow"},
		{"p", "organiser", "leave", "approve", "any", "allow"},
		{"p", "organiser", "leave", "approve_long", "any", "allow"},
		{"p", "organiser", "spot_check", "record", "any", "allow"},
		{"p", "reviewer", "spot_check", "record", "any", "allow"},
		{"p", "reviewer", "spot_check", "record", "own_dept", "deny"},
		{"p", "organiser", "spot_check", "read", "any", "allow"},
		{"p", "reviewer", "spot_check", "read", "any", "allow"},
		{"p", "dept_lead", "spot_check", "read", "own_dept", "allow"},
		{"p", "auditor", "spot_check", "read", "any", "allow"},
		{"p", "team_member", "work_log", "write", "own_pairing", "allow"},
		{"p", "team_member", "work_log", "read", "own_pairing", "allow"},
		{"p", "dept_lead", "work_log", "read", "own_dept", "allow"},
		{"p", "reviewer", "work_log", "read", "any", "allow"},
		{"p", "organiser", "work_log", "read", "any", "allow"},
		{"p", "auditor", "work_log", "read", "any", "allow"},
		{"p", "team_member", "file", "upload", "own_pairing", "allow"},
		{"p", "dept_lead", "file", "upload", "own_dept", "allow"},
		{"p", "organiser", "file", "upload", "any", "allow"},
		{"p", "reviewer", "file", "upload", "any", "allow"},
		{"p", "reviewer", "file", "upload", "own_dept", "deny"},
		{"p", "village", "file", "upload", "own_village", "allow"},
		{"p", "team_member", "file", "read", "own_pairing", "allow"},
		{"p", "dept_lead", "file", "read", "own_dept", "allow"},
		{"p", "organiser", "file", "read", "any", "allow"},
		{"p", "reviewer", "file", "read", "any", "allow"},
		{"p", "village", "file", "read", "own_village", "allow"},
		{"p", "auditor", "file", "read", "any", "allow"},
	}},
	{Name: "ledger-figures", Rules: []Rule{
		{"p", "team_member", "project", "read", "own_pairing", "allow"},
		{"p", "dept_lead", "project", "read", "own_dept", "allow"},
		{"p", "village", "project", "read", "own_village", "allow"},
		{"p", "organiser", "project", "read", "any", "allow"},
		{"p", "reviewer", "project", "read", "any", "allow"},
		{"p", "auditor", "project", "read", "any", "allow"},
		{"p", "team_member", "project", "write", "own_pairing", "allow"},
		{"p", "dept_lead", "project", "write", "own_dept", "allow"},
		{"p", "organiser", "project", "accept", "any", "allow"},
		{"p", "reviewer", "project", "accept", "any", "allow"},
		{"p", "reviewer", "project", "accept", "own_dept", "deny"},
		{"p", "organiser", "statistics", "read", "any", "allow"},
		{"p", "reviewer", "statistics", "read", "any", "allow"},
		{"p", "auditor", "statistics", "read", "any", "allow"},
		{"p", "organiser", "bulletin", "publish", "any", "allow"},
		{"p", "organiser", "bulletin", "read", "any", "allow"},
		{"p", "reviewer", "bulletin", "read", "any", "allow"},
		{"p", "auditor", "bulletin", "read", "any", "allow"},
	}},
	{Name: "leader-contacts", Rules: []Rule{
		{"p", "organiser", "contact", "register", "any", "allow"},
	}},
	{Name: "day-to-day", Rules: []Rule{
		{"p", "organiser", "task", "read", "any", "allow"},
		{"p", "reviewer", "task", "read", "any", "allow"},
		{"p", "dept_lead", "task", "read", "own_dept", "allow"},
		{"p", "auditor", "task", "read", "any", "allow"},
		{"p", "organiser", "task", "reassign", "any", "allow"},
		{"p", "organiser", "task", "extend", "any", "allow"},
		{"p", "organiser", "task", "remind", "any", "allow"},
		{"p", "organiser", "task", "note", "any", "allow"},
		{"p", "organiser", "task", "delegate", "any", "allow"},
		{"p", "reviewer", "task", "delegate", "any", "allow"},
		{"p", "reviewer", "task", "delegate", "own_dept", "deny"},
		{"p", "dept_lead", "task", "delegate", "own_dept", "allow"},
		{"p", "organiser", "inspection_team", "create", "any", "allow"},
		{"p", "organiser", "inspection_team", "assign", "any", "allow"},
		{"p", "organiser", "inspection_team", "read", "any", "allow"},
		{"p", "auditor", "inspection_team", "read", "any", "allow"},
	}},
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
	store   Store
	entries int // the decision cache's bound, per policy version

	// gen is the loaded policy with its decisions, swapped whole on a version
	// change: a decision reads it with one atomic load, no lock.
	gen atomic.Pointer[generation]
}

// generation is one version of the policy: the rules compiled, and the decisions
// made from them. Its cache is never carried over to another version — a new
// version is a new generation with an empty cache — so an entry is served only to a
// request that read the version the entry was computed at (or a later one that
// nothing has yet replaced it with: see Decide).
type generation struct {
	version int64
	c       *compiled
	cache   *decisionCache
}

// compiled is one loaded policy: a Casbin enforcer per object type, each holding only
// that object's p rules and sharing one role manager with every g rule. Casbin
// evaluates the matcher once per p rule, so splitting by object makes a decision cost
// a handful of rule evaluations rather than all of them (BenchmarkDecide).
type compiled struct {
	byObject map[string]*casbin.SyncedEnforcer
}

// CacheEntries bounds the decisions cached for one policy version. A city has a few
// thousand accounts, and an account asks about a few of the policy's few dozen
// object-action pairs, in one or two jurisdictions, with one or a few sets of
// relations: some tens of thousands of distinct requests between two policy changes.
// 65,536 holds them, in about 17 MB at most (measured: 256–280 bytes an entry with its
// map slot and the strings it keeps). A province's accounts ask more than that: there
// the bound keeps memory fixed, a random entry of a full shard makes room for a new
// one, and the hit rate is the share of the requests' variety that fits.
const CacheEntries = 1 << 16

// New loads the policy from store.
func New(ctx context.Context, store Store) (*Enforcer, error) {
	return newEnforcer(ctx, store, CacheEntries)
}

func newEnforcer(ctx context.Context, store Store, entries int) (*Enforcer, error) {
	en := &Enforcer{store: store, entries: entries}
	if err := en.reload(ctx); err != nil {
		return nil, err
	}
	return en, nil
}

// Decide answers r with the policy as the database holds it now. The version read
// comes first and is never skipped: if it fails, Decide fails (the caller refuses),
// whatever the cache holds.
// maxCachedRequest bounds the bytes of a request the cache keeps: a jurisdiction
// comes from a query string (?county=), so a signed-in caller could otherwise fill the
// cache's 65,536 entries with 60-KiB keys. Real requests are well under it; a longer
// one is decided by Casbin each time.
const maxCachedRequest = 512

// size is the request's length in bytes.
func (k request) size() int { return len(k.sub) + len(k.dom) + len(k.obj) + len(k.act) + len(k.rel) }

func (en *Enforcer) Decide(ctx context.Context, r baocun.AccessRequest) (baocun.AccessDecision, error) {
	v, err := en.store.PolicyVersion(ctx)
	if err != nil {
		return baocun.AccessDecision{}, err
	}
	g := en.gen.Load()
	if g.version != v {
		if err := en.reload(ctx); err != nil {
			return baocun.AccessDecision{}, err
		}
		// Now at the version PolicyRules read, in the same database after v: v or
		// later. Its cache holds only what that version decided.
		g = en.gen.Load()
	}
	k := request{sub: r.User, dom: r.Jurisdiction, obj: r.Object, act: r.Action, rel: strings.Join(r.Relations, " ")}
	if d, ok := g.cache.get(k); ok {
		return d, nil
	}
	d, cacheable, err := g.c.decide(k)
	if err != nil {
		return baocun.AccessDecision{}, err
	}
	if cacheable && k.size() <= maxCachedRequest {
		g.cache.put(k, d)
	}
	return d, nil
}

// decide enforces against the loaded policy without checking its version and without
// the cache: for the benchmark of Casbin's part and the tests that compare with it.
func (en *Enforcer) decide(r baocun.AccessRequest) (baocun.AccessDecision, error) {
	d, _, err := en.gen.Load().c.decide(request{sub: r.User, dom: r.Jurisdiction, obj: r.Object, act: r.Action, rel: strings.Join(r.Relations, " ")})
	return d, err
}

// request is what Casbin is asked, and so the cache's key: equal requests get equal
// decisions from one compiled policy. rel is the relations as Casbin gets them.
type request struct{ sub, dom, obj, act, rel string }

// decide enforces k. A request about an object no rule names is refused without
// asking Casbin and not cached: it costs less than a cache entry would, and such
// requests could otherwise push real ones out.
func (c *compiled) decide(k request) (d baocun.AccessDecision, cacheable bool, err error) {
	e, found := c.byObject[k.obj]
	if !found {
		return baocun.AccessDecision{Rule: DefaultDeny}, false, nil
	}
	ok, explain, err := e.EnforceEx(userPrefix+k.sub, k.dom, k.obj, k.act, k.rel)
	if err != nil {
		return baocun.AccessDecision{}, false, fmt.Errorf("policy: %w", err)
	}
	d = baocun.AccessDecision{Allowed: ok, Rule: DefaultDeny}
	if len(explain) > 0 {
		d.Rule = "p, " + strings.TrimPrefix(strings.Join(explain, ", "), rolePrefix)
	}
	return d, true, nil
}

// reload builds a new Casbin enforcer from the store and swaps it in whole with an
// empty decision cache, so a decision never sees half a policy nor another version's
// decisions. A policy older than the loaded one is not swapped in, nor one at the
// same version (the same rules: its warm cache stays).
func (en *Enforcer) reload(ctx context.Context) error {
	rules, version, err := en.store.PolicyRules(ctx)
	if err != nil {
		return err
	}
	if cur := en.gen.Load(); cur != nil && version <= cur.version {
		return nil
	}
	c, err := compile(asRules(rules))
	if err != nil {
		return err
	}
	next := &generation{version: version, c: c, cache: newDecisionCache(en.entries)}
	for {
		cur := en.gen.Load()
		if cur != nil && version <= cur.version {
			return nil
		}
		if en.gen.CompareAndSwap(cur, next) {
			return nil
		}
	}
}

// cacheShards splits a generation's decisions so that concurrent requests take
// different read locks, not one: a hit takes its shard's read lock, a miss that stores
// the decision takes that shard's write lock.
const cacheShards = 64

// decisionCache holds one generation's decisions, at most cacheShards × perShard.
type decisionCache struct {
	seed     maphash.Seed
	perShard int
	shards   [cacheShards]cacheShard
}

type cacheShard struct {
	mu sync.RWMutex
	m  map[request]baocun.AccessDecision
	_  [64]byte // keeps neighbouring shards' locks off one cache line
}

func newDecisionCache(entries int) *decisionCache {
	c := &decisionCache{seed: maphash.MakeSeed(), perShard: max(entries/cacheShards, 1)}
	for i := range c.shards {
		c.shards[i].m = make(map[request]baocun.AccessDecision)
	}
	return c
}

func (c *decisionCache) shard(k request) *cacheShard {
	return &c.shards[maphash.Comparable(c.seed, k)%cacheShards]
}

func (c *decisionCache) get(k request) (baocun.AccessDecision, bool) {
	s := c.shard(k)
	s.mu.RLock()
	d, ok := s.m[k]
	s.mu.RUnlock()
	return d, ok
}

// put stores d, first evicting one entry when the shard is full. Go starts each
// range over a map at a random place, so the entry evicted is a random one: cheap,
// and under a working set larger than the bound the hit rate falls gradually rather
// than to nothing as with clearing the shard.
func (c *decisionCache) put(k request, d baocun.AccessDecision) {
	s := c.shard(k)
	s.mu.Lock()
	if _, ok := s.m[k]; !ok && len(s.m) >= c.perShard {
		for old := range s.m {
			delete(s.m, old)
			break
		}
	}
	s.m[k] = d
	s.mu.Unlock()
}

// len is the number of decisions held.
func (c *decisionCache) len() int {
	n := 0
	for i := range c.shards {
		s := &c.shards[i]
		s.mu.RLock()
		n += len(s.m)
		s.mu.RUnlock()
	}
	return n
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
