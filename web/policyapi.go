package web

import (
	"net/http"

	"github.com/gin-gonic/gin"

	"baocun"
)

// handleListPolicy returns every rule: the roles' permissions (p) and the role
// grants (g), with the policy version.
func handleListPolicy(store Store) gin.HandlerFunc {
	return func(c *gin.Context) {
		rules, version, err := store.PolicyRules(c.Request.Context())
		if err != nil {
			Error(c, err)
			return
		}
		out := policyList{Version: version, Items: make([]policyRule, 0, len(rules))}
		for _, r := range rules {
			out.Items = append(out.Items, policyRule{Type: r[0], Values: r[1:]})
		}
		c.JSON(http.StatusOK, out)
	}
}

// policyList is every rule at one version; the policy is small, so one page.
type policyList struct {
	Version    int64        `json:"version"`
	Items      []policyRule `json:"items"`
	NextCursor string       `json:"next_cursor"`
}

// policyRule is a p rule (role, object, action, scope, effect) or a g rule
// (username, role, jurisdiction).
type policyRule struct {
	Type   string   `json:"type"`
	Values []string `json:"values"`
}

type grantResponse struct {
	grantRequest
	Granted bool `json:"granted"`
}

type grantRequest struct {
	Username     string      `json:"username"`
	Role         baocun.Role `json:"role"`
	Jurisdiction string      `json:"jurisdiction"`
}

// handleGrant gives or takes back a role (grant true/false), audited in the same
// transaction as the change.
func handleGrant(store Store, grant bool) gin.HandlerFunc {
	return func(c *gin.Context) {
		var req grantRequest
		if err := decodeJSON(c, &req); err != nil {
			Error(c, err)
			return
		}
		g := baocun.Grant{Role: req.Role, Jurisdiction: req.Jurisdiction}
		status := http.StatusCreated
		if !grant {
			status = http.StatusOK
		}
		e := auditEntry(c, status, req)
		e.Resource = "users/" + req.Username
		var err error
		if grant {
			err = store.GrantRole(c.Request.Context(), req.Username, g, e)
		} else {
			err = store.RevokeRole(c.Request.Context(), req.Username, g, e)
		}
		if err != nil {
			c.Set(ctxAudited, false)
			Error(c, err)
			return
		}
		c.JSON(status, grantResponse{grantRequest: req, Granted: grant})
	}
}
