package web

import (
	"net/http"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"baocun"
)

// page is the shape of every list: one page of items and the cursor of the next
// ("" on the last page).
type page[T any] struct {
	Items      []T    `json:"items"`
	NextCursor string `json:"next_cursor"`
}

// route is one API route and the permission it needs: object and action as the
// policy names them, and the loader of the resource it acts on. A route with no
// object needs only a signed-in user, unless it is public.
type route struct {
	method, path   string
	summary        string // 中文 English, for the OpenAPI document
	public         bool
	object, action string
	resource       loader
	handler        gin.HandlerFunc
	in, out        any  // request and response bodies' Go types, for the document
	status         int  // success status when not 200
	auditRead      bool // audit allowed reads too: personal data and the trail itself
}

// apiRoutes lists every route under /api/v1 with the permission it needs. It is the
// one place routes and permissions meet; the authorization matrix test walks it.
func apiRoutes(d Deps) []route {
	return []route{
		{method: "POST", path: "/auth/login", summary: "登录 Sign in", public: true,
			handler: handleLogin(d.Store, d.Audit), in: loginRequest{}, out: loginResponse{}},
		{method: "POST", path: "/auth/logout", summary: "退出 Sign out", handler: handleLogout(d.Store, d.Audit), status: 204},
		{method: "GET", path: "/auth/me", summary: "当前用户 The signed-in user", handler: handleMe(), out: me{}},

		{method: "POST", path: "/users", summary: "创建用户 Create an account", object: "user", action: "create", resource: cityWide("users"),
			handler: handleCreateUser(d.Store), in: createUserRequest{}, out: baocun.User{}, status: 201},
		{method: "GET", path: "/users", summary: "用户列表 List accounts", object: "user", action: "read", resource: cityWide("users"),
			handler: handleListUsers(d.Store), out: page[baocun.User]{}},
		{method: "GET", path: "/users/:username", summary: "查看用户 One account", object: "user", action: "read", resource: userResource,
			handler: handleGetUser(d.Store), out: baocun.User{}},

		{method: "POST", path: "/import/:kind", summary: "导入名录 Import departments, villages or people (CSV or XLSX)", object: "directory", action: "import",
			resource: cityWide("directory"), handler: handleImport(d.Store), out: importResult{}},
		{method: "GET", path: "/departments", summary: "部门名录 List departments (?county=)", object: "directory", action: "read",
			resource: countyList("departments"), handler: handleListDepartments(d.Store), out: page[baocun.Department]{}},
		{method: "GET", path: "/villages", summary: "行政村名录 List villages (?county=)", object: "directory", action: "read",
			resource: countyList("villages"), handler: handleListVillages(d.Store), out: page[baocun.Village]{}},
		{method: "GET", path: "/departments/:code/people", summary: "部门人员 A department's people", object: "people", action: "read",
			resource: departmentResource(d.Store), handler: handleDepartmentPeople(d.Store), out: page[baocun.Person]{}, auditRead: true},

		{method: "GET", path: "/audit", summary: "审计查询 Query the audit trail (actor, action, cycle, pairing, department, village, decision, since, until)",
			object: "audit", action: "read", resource: cityWide("audit"), handler: handleAuditQuery(d.Audit), out: page[baocun.AuditEntry]{}, auditRead: true},
		{method: "GET", path: "/audit/export", summary: "审计导出 Export the audit trail (?format=csv|jsonl, same filters)",
			object: "audit", action: "read", resource: cityWide("audit"), handler: handleAuditExport(d.Audit), auditRead: true},
		{method: "GET", path: "/audit/verify", summary: "审计校验 Verify the audit chain and its signed checkpoints",
			object: "audit", action: "read", resource: cityWide("audit"), handler: handleAuditVerify(d.Audit), out: baocun.AuditVerification{}},

		{method: "GET", path: "/policy", summary: "权限规则 List the policy", object: "policy", action: "read", resource: cityWide("policy"),
			handler: handleListPolicy(d.Store), out: policyList{}},
		{method: "POST", path: "/policy/grants", summary: "授予角色 Grant a role", object: "policy", action: "grant", resource: cityWide("policy"),
			handler: handleGrant(d.Store, true), in: grantRequest{}, out: grantResponse{}, status: 201},
		{method: "DELETE", path: "/policy/grants", summary: "收回角色 Revoke a role", object: "policy", action: "revoke", resource: cityWide("policy"),
			handler: handleGrant(d.Store, false), in: grantRequest{}, out: grantResponse{}},
	}
}

// routes wires every route of the service.
func routes(r *gin.Engine, d Deps) {
	r.GET("/healthz", handleHealthz())
	r.GET("/readyz", handleReadyz(d.Checks))
	r.GET("/metrics", gin.WrapH(promhttp.HandlerFor(d.Registry, promhttp.HandlerOpts{Registry: d.Registry})))

	api := r.Group("/api/v1", requestID(), authenticate(d.Store))
	all := apiRoutes(d)
	r.GET("/api/openapi.json", handleOpenAPI(openAPI(all)))
	for _, rt := range all {
		switch {
		case rt.public:
			api.Handle(rt.method, rt.path, rt.handler)
		case rt.object == "":
			api.Handle(rt.method, rt.path, signedIn(d.Audit), rt.handler)
		default:
			api.Handle(rt.method, rt.path, authorize(rt, d.Authorizer, d.Audit), rt.handler)
		}
	}

	r.NoRoute(func(c *gin.Context) {
		writeError(c, http.StatusNotFound, "not_found", "没有这个地址 No such path: "+c.Request.URL.Path)
	})
}
