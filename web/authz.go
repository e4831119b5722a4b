package web

import (
	"context"
	"net/http"
	"slices"
	"strings"

	"github.com/gin-gonic/gin"

	"baocun"
)

// Resource is what authorization needs to know about the thing a request acts on,
// loaded from the database by the route's loader, never taken from the client.
type Resource struct {
	Name         string // for the audit trail, e.g. "users/alice"
	Jurisdiction string // "*" for city-wide resources, else the county
	Department   string // the department code it belongs to, if any
	Village      string // the village code it concerns, if any
	PairingID    string
	CycleID      string
	// TeamPeople are the person ids of the pairing's team, for own_pairing, and
	// TeamLeader its leader's, for team_leader.
	TeamPeople []string
	TeamLeader string
}

// loader finds the resource of a request; an error (not found, bad id) ends it.
type loader func(c *gin.Context) (Resource, error)

// cityWide is the loader of resources that belong to the whole city (accounts,
// policy, the audit trail): only roles held in "*" reach them.
func cityWide(name string) loader {
	return func(c *gin.Context) (Resource, error) {
		return Resource{Name: name, Jurisdiction: baocun.CityJurisdiction}, nil
	}
}

// relations computes the caller's relations to r from the database's facts. own_dept
// is the account's department, never the directory's alone (decide handles a move
// waiting for an admin).
func relations(u *baocun.User, r Resource) []string {
	var rel []string
	if u.Department != "" && u.Department == r.Department && u.PendingDepartment == "" {
		rel = append(rel, "own_dept")
	}
	for _, m := range r.TeamPeople {
		if u.PersonID != "" && m == u.PersonID {
			rel = append(rel, "own_pairing")
			break
		}
	}
	if u.VillageCode != "" && u.VillageCode == r.Village {
		rel = append(rel, "own_village")
	}
	if u.PersonID != "" && u.PersonID == r.TeamLeader {
		rel = append(rel, "team_leader")
	}
	return rel
}

// userResource loads the account named in the path.
func userResource(c *gin.Context) (Resource, error) {
	return Resource{Name: "users/" + c.Param("username"), Jurisdiction: "*"}, nil
}

// signedIn is the gate of routes every signed-in user may use (their own session).
func signedIn(rt route, d Deps) gin.HandlerFunc {
	action := "session." + strings.ToLower(rt.method)
	return func(c *gin.Context) {
		if refuseUnauthenticated(c, d, action) || refuseBeforePasswordChange(c, rt, d.Audit, action) {
			return
		}
		c.Next()
	}
}

// refuseBeforePasswordChange ends, with an audited denial, a request of an account
// whose password an admin reset, unless the route is one it needs to change it.
func refuseBeforePasswordChange(c *gin.Context, rt route, audit AuditLog, action string) bool {
	if rt.beforePasswordChange || !currentUser(c).MustChangePassword {
		return false
	}
	e := baseEntry(c, action)
	e.Decision, e.Status = baocun.DecisionDeny, http.StatusForbidden
	e.Rule = "authentication: the password must be changed first"
	if err := audit.Append(c.Request.Context(), e); err != nil {
		Error(c, err)
		return true
	}
	Error(c, &baocun.Error{Code: baocun.EFORBIDDEN, Fields: map[string]string{"password": "must_change"},
		Message: "请先修改密码（管理员已重置） Change your password first: an admin reset it (POST /api/v1/auth/password)."})
	return true
}

// refuseUnauthenticated ends a request that has no user or a refused credential (a
// bad or expired token, a missing CSRF token), with an audited denial — for a
// caller with no user at all, a sample of them per network (Deps.sampled). It
// reports whether it refused.
func refuseUnauthenticated(c *gin.Context, d Deps, action string) bool {
	v, _ := c.Get(ctxAuthErr)
	authErr, _ := v.(error)
	if authErr == nil && currentUser(c) != nil {
		return false
	}
	if authErr == nil {
		authErr = &baocun.Error{Code: baocun.EUNAUTHORIZED, Op: "not signed in", Message: "请先登录 Sign in first."}
	}
	e := baseEntry(c, action)
	e.Decision, e.Status = baocun.DecisionDeny, http.StatusUnauthorized
	if baocun.ErrorCode(authErr) == baocun.EFORBIDDEN {
		e.Status = http.StatusForbidden
	}
	e.Rule = "authentication: " + authErr.Error()
	if currentUser(c) == nil && !d.sampled(c, e) {
		Error(c, authErr)
		return true
	}
	if err := d.Audit.Append(c.Request.Context(), e); err != nil {
		Error(c, err)
		return true
	}
	Error(c, authErr)
	return true
}

// authorize is the one gate of every protected route: it needs a signed-in user,
// loads the resource, asks the policy, and audits the decision — every denial, every
// allowed request that changes something, and allowed reads of personal data and of
// the trail, each with its outcome. Other allowed reads (inbox polling, lists) are not
// recorded, so the trail stays a record of decisions rather than of page views.
// decide asks the policy whether u may take route rt on resource res. The gate and
// the UI's "may this be shown" both ask through it.
//
// While the directory has moved the caller's person to another department and no
// admin has confirmed it (u.PendingDepartment), the caller has own_dept with neither
// department for what it allows, and with both for what it denies: the request is
// asked again as of the department concerned, and any deny there stands. So a
// department lead reads neither department's pairings until an admin decides, and a
// reviewer decides for neither the old department nor the new.
func decide(ctx context.Context, authz baocun.Authorizer, rt route, u *baocun.User, res Resource) (baocun.AccessDecision, error) {
	r := baocun.AccessRequest{
		User: u.Username, Jurisdiction: res.Jurisdiction, Object: rt.object, Action: rt.action, Relations: relations(u, res),
	}
	d, err := authz.Decide(ctx, r)
	moving := u.PendingDepartment != "" && res.Department != "" &&
		(res.Department == u.Department || res.Department == u.PendingDepartment)
	if err != nil || !moving {
		return d, err
	}
	if !d.Allowed {
		d.Rule += "; own department pending an admin's confirmation of a move (" + u.Department + " → " + u.PendingDepartment + ")"
		return d, nil
	}
	r.Relations = append(r.Relations, "own_dept")
	barred, err := authz.Decide(ctx, r)
	if err != nil || barred.Allowed {
		return d, err
	}
	barred.Rule += "; moving " + u.Department + " → " + u.PendingDepartment + ": barred from both until an admin confirms"
	return barred, nil
}

func authorize(rt route, d Deps) gin.HandlerFunc {
	authz, audit := d.Authorizer, d.Audit
	recorded := rt.method != http.MethodGet || rt.auditRead
	action := rt.object + "." + rt.action
	return func(c *gin.Context) {
		if refuseUnauthenticated(c, d, action) || refuseBeforePasswordChange(c, rt, audit, action) {
			return
		}
		u := currentUser(c)
		e := baseEntry(c, action)
		if rt.loaderReadsBody {
			j, rule, err := heldIn(c.Request.Context(), authz, rt, u)
			if err != nil {
				Error(c, err)
				return
			}
			if j == "" {
				e.Resource = strings.TrimPrefix(rt.path, "/")
				deny(c, audit, e, action, "body not read: the permission is held in no jurisdiction ("+rule+")")
				return
			}
			c.Set(ctxHeldIn, j)
		}
		res, err := rt.resource(c)
		if err != nil {
			Error(c, err)
			return
		}
		e.Resource, e.Jurisdiction, e.Department, e.Village = res.Name, res.Jurisdiction, res.Department, res.Village
		e.PairingID, e.CycleID = res.PairingID, res.CycleID
		d, err := decide(c.Request.Context(), authz, rt, u, res)
		if err != nil {
			Error(c, err)
			return
		}
		e.Role = ruleRole(d.Rule)
		if !d.Allowed {
			deny(c, audit, e, action, d.Rule)
			return
		}
		e.Rule = d.Rule
		e.Decision = baocun.DecisionAllow
		c.Set(ctxAudit, e)
		c.Set(ctxResource, res)
		c.Next()
		if recorded && !c.GetBool(ctxAudited) {
			// A read the trail keeps (personal data, the trail itself), or a change
			// whose handler wrote nothing of its own (it refused the input, say):
			// record the request and how it ended.
			e.Status = c.Writer.Status()
			// Recorded even if the caller has gone: what was asked is in the trail.
			if err := audit.Append(context.WithoutCancel(c.Request.Context()), e); err != nil {
				c.Error(err)
			}
		}
	}
}

// deny refuses the request with 403 naming the rule, and audits the refusal.
func deny(c *gin.Context, audit AuditLog, e *baocun.AuditEntry, action, rule string) {
	e.Rule = rule
	e.Decision, e.Status = baocun.DecisionDeny, http.StatusForbidden
	if err := audit.Append(c.Request.Context(), e); err != nil {
		Error(c, err)
		return
	}
	Error(c, &baocun.Error{Code: baocun.EFORBIDDEN,
		Message: "无权执行此操作 Not allowed: " + action + " (" + rule + ")"})
}

// ctxResource is the Resource the gate authorized, for a handler that asks the policy
// a further question about it.
const ctxResource = "baocun.resource"

// ctxHeldIn is a jurisdiction heldIn found the caller holding the route's permission in.
const ctxHeldIn = "baocun.held_in"

// relationSets are every set of relations a caller can have to a resource. A deny
// rule overrides the allows (a reviewer never decides for their own department), so
// no one set is the most permissive: heldIn tries each.
var relationSets = func() [][]string {
	all := []string{"own_dept", "own_pairing", "own_village", "team_leader"}
	sets := [][]string{nil}
	for _, r := range all {
		for _, s := range sets {
			sets = append(sets, append(slices.Clone(s), r))
		}
	}
	return sets
}()

// heldIn answers, without the resource, whether u may take route rt on any resource
// at all: a jurisdiction where some resource would be allowed, or "" and the rule
// that refused last. A role applies only in the jurisdiction it is held in (or
// everywhere, held in "*"), so trying each held jurisdiction with every set of
// relations covers every resource; a user with no role is refused without a
// question.
func heldIn(ctx context.Context, authz baocun.Authorizer, rt route, u *baocun.User) (string, string, error) {
	rule := "no role held"
	tried := map[string]bool{}
	for _, g := range u.Roles {
		if tried[g.Jurisdiction] {
			continue
		}
		tried[g.Jurisdiction] = true
		for _, rel := range relationSets {
			d, err := authz.Decide(ctx, baocun.AccessRequest{
				User: u.Username, Jurisdiction: g.Jurisdiction, Object: rt.object, Action: rt.action, Relations: rel,
			})
			if err != nil {
				return "", "", err
			}
			if d.Allowed {
				return g.Jurisdiction, d.Rule, nil
			}
			rule = d.Rule
		}
	}
	return "", rule, nil
}

// auditEntry is the entry authorize drafted for this request; a handler that changes
// state completes it and writes it in the same transaction as the change.
func auditEntry(c *gin.Context, status int, payload any) *baocun.AuditEntry {
	v, _ := c.Get(ctxAudit)
	e, _ := v.(*baocun.AuditEntry)
	if e == nil {
		e = baseEntry(c, "unknown")
	}
	e.Status = status
	if payload != nil {
		e.Summary = summary(payload)
	}
	c.Set(ctxAudited, true)
	return e
}

// ruleRole is the role a matched rule grants ("p, reviewer, stage, …" → reviewer).
func ruleRole(rule string) string {
	parts := strings.Split(rule, ", ")
	if len(parts) > 2 && parts[0] == "p" {
		return parts[1]
	}
	return ""
}
