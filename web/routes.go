package web

import (
	"net/http"

	"github.com/gin-gonic/gin"

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
	upload         bool // the body is multipart/form-data with a part "file", for the pairing ?pairing= names
	// beforePasswordChange: usable by an account whose password an admin reset, which
	// may do nothing else until it has changed it.
	beforePasswordChange bool
	// maxBody is the largest body the route reads (bodySmall when zero).
	maxBody int64
	// loaderReadsBody says the resource is known only from the body (a launch's
	// jurisdiction): the gate then reads it only for a caller who holds the route's
	// permission in some jurisdiction, and decides exactly after.
	loaderReadsBody bool
}

// apiRoutes lists every route under /api/v1 with the permission it needs. It is the
// one place routes and permissions meet; the authorization matrix test walks it.
func apiRoutes(d Deps) []route {
	return []route{
		{method: "POST", path: "/auth/login", summary: "登录 Sign in (throttled per address and per account: 429 with Retry-After)", public: true,
			handler: handleLogin(d), in: loginRequest{}, out: loginResponse{}},
		{method: "POST", path: "/auth/logout", summary: "退出 Sign out", handler: handleLogout(d.Store, d.Audit), status: 204, beforePasswordChange: true},
		{method: "GET", path: "/auth/me", summary: "当前用户 The signed-in user", handler: handleMe(), out: me{}, beforePasswordChange: true},
		{method: "POST", path: "/auth/password", summary: "修改自己的密码 Change one's own password (ends one's other sessions)",
			handler: handleChangePassword(d), in: changePasswordRequest{}, status: 204, beforePasswordChange: true},

		{method: "POST", path: "/users", summary: "创建用户 Create an account", object: "user", action: "create", resource: cityWide("users"),
			handler: handleCreateUser(d.Store), in: createUserRequest{}, out: baocun.User{}, status: 201},
		{method: "GET", path: "/users", summary: "用户列表 List accounts", object: "user", action: "read", resource: cityWide("users"),
			handler: handleListUsers(d.Store), out: page[baocun.User]{}},
		{method: "GET", path: "/users/:username", summary: "查看用户 One account", object: "user", action: "read", resource: userResource,
			handler: handleGetUser(d.Store), out: baocun.User{}},
		{method: "PATCH", path: "/users/:username", summary: "停用、启用账户或确认其部门变更 Disable or enable an account, or confirm its move to another department",
			object: "user", action: "update", resource: userResource, handler: handlePatchUser(d.Store), in: patchUserRequest{}, out: baocun.User{}},
		{method: "POST", path: "/users/:username/password", summary: "重置密码（下次登录须修改） Reset the password: the next sign-in must change it",
			object: "user", action: "update", resource: userResource, handler: handleResetPassword(d.Store), in: resetPasswordRequest{}, out: baocun.User{}},
		{method: "POST", path: "/users/:username/unlock", summary: "解除登录锁定 Forget the sign-in failures that lock the account",
			object: "user", action: "update", resource: userResource, handler: handleUnlock(d.Store), out: baocun.User{}},
		{method: "GET", path: "/users/:username/sessions", summary: "账户的登录会话，新的在前（?cursor=&limit=） The account's live sessions, newest first, never their tokens (?cursor=&limit=)",
			object: "user", action: "read", resource: userResource, handler: handleListSessions(d.Store), out: page[baocun.Session]{}, auditRead: true},
		{method: "DELETE", path: "/users/:username/sessions", summary: "结束账户的全部会话 End every session of the account",
			object: "user", action: "update", resource: userResource, handler: handleEndSessions(d.Store), out: sessionsEnded{}},

		{method: "POST", path: "/import/:kind", summary: "导入名录 Import departments, villages, people or village_years (each village's year: code,year,collective_income_wan,population,class) (CSV or XLSX)", object: "directory", action: "import",
			resource: cityWide("directory"), handler: handleImport(d.Store), out: importResult{}, maxBody: bodyFile},
		{method: "GET", path: "/departments", summary: "部门名录 List departments (?county=)", object: "directory", action: "read",
			resource: countyList("departments"), handler: handleListDepartments(d.Store), out: page[baocun.Department]{}},
		{method: "GET", path: "/villages", summary: "行政村名录 List villages (?county=; ?unpaired=1: the class 2 and 3 villages in no running cycle's open pairing)", object: "directory", action: "read",
			resource: countyList("villages"), handler: handleListVillages(d.Store), out: page[baocun.Village]{}},
		{method: "GET", path: "/departments/:code", summary: "查看部门 One department", object: "directory", action: "read",
			resource: departmentResource(d.Store), handler: handleGetRecord(), out: baocun.Department{}},
		{method: "PUT", path: "/departments/:code", summary: "新建或修改部门 Create or update a department", object: "directory", action: "write",
			resource: cityRecord("departments", "code"), handler: handlePutDepartment(d.Store), in: baocun.Department{}, out: baocun.Department{}},
		{method: "GET", path: "/villages/:code", summary: "查看行政村 One village", object: "directory", action: "read",
			resource: villageResource(d.Store), handler: handleGetRecord(), out: baocun.Village{}},
		{method: "GET", path: "/villages/:code/history", summary: "行政村历年情况 A village over time: its years (collective income, population, class), its leaders' contacts and their visits, and each pairing the caller may read with its class at launch and after acceptance", object: "directory", action: "read",
			resource: villageResource(d.Store), handler: handleVillageHistory(d), out: baocun.VillageHistory{}},
		{method: "POST", path: "/villages/:code/contacts", summary: "登记领导联系点 Register a city or county leader's contact village (their visits there are counted in the village's history)", object: "contact", action: "register",
			resource: villageResource(d.Store), handler: handleAddContact(d.Store), in: baocun.LeaderContactInput{}, out: baocun.LeaderContact{}, status: 201},
		{method: "PUT", path: "/villages/:code", summary: "新建或修改行政村 Create or update a village", object: "directory", action: "write",
			resource: cityRecord("villages", "code"), handler: handlePutVillage(d.Store), in: baocun.Village{}, out: baocun.Village{}},
		{method: "GET", path: "/people/:id", summary: "查看人员 One person", object: "people", action: "read",
			resource: personResource(d.Store), handler: handleGetRecord(), out: baocun.Person{}, auditRead: true},
		{method: "PUT", path: "/people/:id", summary: "新建或修改人员 Create or update a person", object: "directory", action: "write",
			resource: cityRecord("people", "id"), handler: handlePutPerson(d.Store), in: baocun.Person{}, out: baocun.Person{}},
		{method: "GET", path: "/departments/:code/people", summary: "部门人员 A department's people", object: "people", action: "read",
			resource: departmentResource(d.Store), handler: handleDepartmentPeople(d.Store), out: page[baocun.Person]{}, auditRead: true},

		{method: "POST", path: "/cycles", summary: "启动新一轮 Launch a cycle (JSON with pairings, or multipart: settings JSON + pairings file)", object: "cycle", action: "launch",
			resource: launchResource, loaderReadsBody: true, handler: handleLaunch(d), in: launchRequest{}, out: launchResult{}, status: 201, maxBody: bodyFile},
		{method: "GET", path: "/cycles", summary: "各轮列表 List cycles", object: "cycle", action: "read", resource: cityWide("cycles"),
			handler: handleListCycles(d.Store), out: page[baocun.Cycle]{}},
		{method: "GET", path: "/cycles/:id", summary: "一轮概况 A cycle: settings, pairings by stage", object: "cycle", action: "read",
			resource: cycleResource(d.Store), handler: handleGetCycle(d.Store), out: baocun.Cycle{}},
		{method: "POST", path: "/cycles/:id/cancel", summary: "撤销一轮 Cancel a cycle and every pairing", object: "cycle", action: "cancel",
			resource: cycleResource(d.Store), handler: handleCancelCycle(d), in: cancelRequest{}, status: 202},
		{method: "GET", path: "/cycles/:id/pairings", summary: "结对列表 A cycle's pairings (?stage=&county=&department=)", object: "pairing", action: "read",
			resource: cyclePairingsResource(d.Store), handler: handleCyclePairings(d.Store), out: page[baocun.Pairing]{}},
		{method: "GET", path: "/pairings/:id", summary: "结对详情 A pairing: stage, team, tasks, timeline", object: "pairing", action: "read",
			resource: pairingResource(d.Store), handler: handleGetPairing(d), out: pairingDetail{}},
		{method: "POST", path: "/pairings/:id/cancel", summary: "撤销结对 Cancel a pairing", object: "pairing", action: "cancel",
			resource: pairingResource(d.Store), handler: stepRoute(d, baocun.StepCancel, readCancel), in: cancelRequest{}, out: baocun.StepResult{}, maxBody: bodyStep},
		{method: "POST", path: "/pairings/:id/team", summary: "提名工作组 Nominate the work team", object: "team", action: "nominate",
			resource: pairingResource(d.Store), handler: stepRoute(d, baocun.StepNominateTeam, readTeam(d.Store)), in: baocun.TeamInput{}, out: baocun.StepResult{}, maxBody: bodyStep},
		{method: "POST", path: "/pairings/:id/team/decision", summary: "审批工作组或其调整 Approve or return a team nomination or change", object: "team", action: "approve",
			resource: pairingResource(d.Store), handler: stepRoute(d, baocun.StepDecideTeam, readTeamDecision(d.Store)),
			in: baocun.DecisionInput{}, out: baocun.StepResult{}, maxBody: bodyStep},
		{method: "POST", path: "/pairings/:id/team-changes", summary: "申请调整工作组 Request a team change (recall, replace)", object: "team", action: "change",
			resource: pairingResource(d.Store), handler: stepRoute(d, baocun.StepRequestChange, readChange(d.Store)), in: baocun.TeamChangeInput{}, out: baocun.StepResult{}, maxBody: bodyStep},
		{method: "POST", path: "/pairings/:id/arrival", summary: "确认进驻 Confirm the team's arrival", object: "residency", action: "record",
			resource: pairingResource(d.Store), handler: stepRoute(d, baocun.StepConfirmArrival, readArrival), out: baocun.StepResult{}, maxBody: bodyStep},
		{method: "POST", path: "/pairings/:id/checkins", summary: "驻村打卡 Check in for today (or a day late, with a reason)", object: "residency", action: "record",
			resource: pairingResource(d.Store), handler: handleCheckin(d), in: baocun.CheckinInput{}, out: baocun.Checkin{}, status: 201},
		{method: "GET", path: "/pairings/:id/checkins", summary: "驻村打卡记录 A month of the team's check-ins and leave (?month=YYYY-MM)", object: "residency", action: "read",
			resource: pairingResource(d.Store), handler: handleCheckins(d), out: checkinsPage{}},
		{method: "POST", path: "/pairings/:id/checkins/review", summary: "确认补卡 The team leader confirms or refuses a late check-in", object: "residency", action: "confirm",
			resource: pairingResource(d.Store), handler: handleCheckinReview(d), in: baocun.CheckinReview{}, out: baocun.Checkin{}},
		{method: "POST", path: "/pairings/:id/checkins/months/:month", summary: "村委确认当月打卡 The village confirms a month's check-ins, disputing days", object: "residency", action: "village_confirm",
			resource: pairingResource(d.Store), handler: handleConfirmMonth(d), in: baocun.MonthConfirmation{}, out: monthResult{}},
		{method: "POST", path: "/pairings/:id/checkins/disputes", summary: "答复村委对打卡的异议 The department lead answers the village's dispute of a month's check-ins", object: "residency", action: "acknowledge",
			resource: pairingResource(d.Store), handler: handleAnswerDispute(d), in: baocun.DecisionInput{}, out: baocun.DecisionInput{}},
		{method: "POST", path: "/pairings/:id/leave", summary: "请假 Request leave", object: "leave", action: "request",
			resource: pairingResource(d.Store), handler: handleRequestLeave(d), in: baocun.LeaveInput{}, out: baocun.Leave{}, status: 201},
		{method: "GET", path: "/pairings/:id/leave", summary: "请假记录 The team's leave (?status=)", object: "leave", action: "read",
			resource: pairingResource(d.Store), handler: handleLeaves(d), out: page[baocun.Leave]{}},
		{method: "POST", path: "/files", summary: "上传佐证材料 Upload an evidence file to a pairing (?pairing=; multipart field file; images, PDF, Office, text; 413 over the limit, 415 another type)",
			object: "file", action: "upload", resource: fileUploadResource(d.Store), handler: handleUpload(d), out: baocun.File{}, status: 201, upload: true,
			maxBody: d.maxFileSize() + 1<<20},
		{method: "GET", path: "/files/:file", summary: "下载佐证材料 An evidence file (?thumb=1: an image's thumbnail)", object: "file", action: "read",
			resource: fileResource(d.Store), handler: handleFile(d), auditRead: true},
		{method: "GET", path: "/pairings/:id/files", summary: "佐证材料 A pairing's evidence files, newest first", object: "file", action: "read",
			resource: pairingResource(d.Store), handler: handlePairingFiles(d), out: page[baocun.File]{}, auditRead: true},
		{method: "POST", path: "/pairings/:id/spot-checks", summary: "记录暗访 Record a spot check of the team", object: "spot_check", action: "record",
			resource: pairingResource(d.Store), handler: handleSpotCheck(d), in: baocun.SpotCheckInput{}, out: baocun.SpotCheck{}, status: 201},
		{method: "GET", path: "/pairings/:id/spot-checks", summary: "暗访记录 The pairing's spot checks", object: "spot_check", action: "read",
			resource: pairingResource(d.Store), handler: handleSpotChecks(d), out: page[baocun.SpotCheck]{}},
		{method: "POST", path: "/pairings/:id/log", summary: "写民情日记 Add a work log entry", object: "work_log", action: "write",
			resource: pairingResource(d.Store), handler: handleAddLog(d), in: baocun.LogInput{}, out: baocun.LogEntry{}, status: 201},
		{method: "GET", path: "/pairings/:id/log", summary: "民情日记 The team's work log (?q=, ?from=, ?to=, ?before=)", object: "work_log", action: "read",
			resource: pairingResource(d.Store), handler: handleLog(d), out: page[baocun.LogEntry]{}},
		{method: "GET", path: "/pairings/:id/projects", summary: "项目台账 The pairing's project ledger: each project's kind, quantity, investment by source, status and dates, evidence", object: "project", action: "read",
			resource: pairingResource(d.Store), handler: handleProjects(d), out: page[baocun.Project]{}},
		{method: "POST", path: "/pairings/:id/projects", summary: "登记项目 Add a planned project to the ledger", object: "project", action: "write",
			resource: pairingResource(d.Store), handler: handleAddProject(d), in: baocun.ProjectInput{}, out: baocun.Project{}, status: 201},
		{method: "POST", path: "/pairings/:id/projects/:project", summary: "项目进度 Move a project on: under way, or completed with evidence (台账销号)", object: "project", action: "write",
			resource: pairingResource(d.Store), handler: handleProjectProgress(d), in: baocun.ProjectProgress{}, out: baocun.Project{}},
		{method: "POST", path: "/pairings/:id/projects/:project/acceptance", summary: "项目验收 Accept a completed project (an inspector never of the department)", object: "project", action: "accept",
			resource: pairingResource(d.Store), handler: handleProjectAcceptance(d), in: baocun.ProjectAcceptance{}, out: baocun.Project{}},
		{method: "POST", path: "/pairings/:id/leave/:leave/decision", summary: "审批请假 Approve or refuse leave", object: "leave", action: "approve",
			resource: pairingResource(d.Store), handler: handleDecideLeave(d), in: baocun.LeaveDecision{}, out: baocun.Leave{}},
		{method: "POST", path: "/pairings/:id/leave/:leave/withdraw", summary: "撤回请假 Withdraw one's own leave, before it is decided or begins", object: "leave", action: "request",
			resource: pairingResource(d.Store), handler: handleWithdrawLeave(d), out: baocun.Leave{}},
		{method: "POST", path: "/pairings/:id/plan", summary: "提交村级发展规划 Submit the village plan", object: "plan", action: "submit",
			resource: pairingResource(d.Store), handler: stepRoute(d, baocun.StepSubmitPlan, readInto(func(st *baocun.Step, v *baocun.PlanInput) { st.Plan = v })),
			in: baocun.PlanInput{}, out: baocun.StepResult{}, maxBody: bodyStep},
		{method: "POST", path: "/pairings/:id/reports", summary: "提交定期汇报 Submit a period's report", object: "report", action: "submit",
			resource: pairingResource(d.Store), handler: stepRoute(d, baocun.StepSubmitReport, readReport(d)),
			in: baocun.ReportInput{}, out: baocun.StepResult{}, maxBody: bodyStep},
		{method: "POST", path: "/pairings/:id/decisions", summary: "审核规划或汇报 Approve or return a plan or report", object: "stage", action: "decide",
			resource: pairingResource(d.Store), handler: stepRoute(d, baocun.StepDecideReview, readInto(func(st *baocun.Step, v *baocun.DecisionInput) { st.Decision = v })),
			in: baocun.DecisionInput{}, out: baocun.StepResult{}, maxBody: bodyStep},
		{method: "POST", path: "/pairings/:id/residency-flags", summary: "知悉驻村不足提示 Acknowledge a residency flag", object: "residency", action: "acknowledge",
			resource: pairingResource(d.Store), handler: stepRoute(d, baocun.StepAcknowledge, readInto(func(st *baocun.Step, v *baocun.DecisionInput) { st.Decision = v })),
			in: baocun.DecisionInput{}, out: baocun.StepResult{}, maxBody: bodyStep},
		{method: "POST", path: "/pairings/:id/visits", summary: "记录领导走访 Record a leader's visit", object: "visit", action: "record",
			resource: pairingResource(d.Store), handler: handleVisit(d), in: baocun.VisitInput{}, out: baocun.VisitInput{}, status: 201},
		{method: "POST", path: "/pairings/:id/evaluations", summary: "提交年度双评 Submit the yearly evaluation: the villagers' and the grass-roots' satisfaction, who gave the grass-roots rating, and the villagers' rating of each cadre of the team by name", object: "evaluation", action: "submit",
			resource: pairingResource(d.Store), handler: stepRoute(d, baocun.StepEvaluate, readEvaluation),
			in: baocun.EvaluationInput{}, out: baocun.StepResult{}, maxBody: bodyStep},
		{method: "POST", path: "/pairings/:id/acceptance/self-assessment", summary: "验收自评 The team's self-assessment", object: "acceptance", action: "self_assess",
			resource: pairingResource(d.Store), handler: stepRoute(d, baocun.StepSelfAssess, readInto(func(st *baocun.Step, v *baocun.SelfAssessInput) { st.SelfAssess = v })),
			in: baocun.SelfAssessInput{}, out: baocun.StepResult{}, maxBody: bodyStep},
		{method: "POST", path: "/pairings/:id/acceptance/scores", summary: "验收评分 Score every indicator (a rater never of the pairing's department)", object: "acceptance", action: "score",
			resource: pairingResource(d.Store), handler: stepRoute(d, baocun.StepScore, readInto(func(st *baocun.Step, v *baocun.ScoreInput) { st.Score = v })),
			in: baocun.ScoreInput{}, out: baocun.StepResult{}, maxBody: bodyStep},
		{method: "POST", path: "/pairings/:id/acceptance/confirm", summary: "确认验收结果 Confirm the result and the village's new class", object: "acceptance", action: "confirm",
			resource: pairingResource(d.Store), handler: stepRoute(d, baocun.StepConfirm, readInto(func(st *baocun.Step, v *baocun.ConfirmInput) { st.Confirm = v })),
			in: baocun.ConfirmInput{}, out: baocun.StepResult{}, maxBody: bodyStep},
		{method: "POST", path: "/pairings/:id/appeal", summary: "申诉 Appeal the published result (the department, within the appeal window)", object: "appeal", action: "file",
			resource: pairingResource(d.Store), handler: stepRoute(d, baocun.StepAppeal, readInto(func(st *baocun.Step, v *baocun.AppealInput) { st.Appeal = v })),
			in: baocun.AppealInput{}, out: baocun.StepResult{}, maxBody: bodyStep},
		{method: "POST", path: "/pairings/:id/appeal/decision", summary: "裁决申诉 Uphold or revise an appealed result (a reviewer never of the department)", object: "appeal", action: "decide",
			resource: pairingResource(d.Store), handler: stepRoute(d, baocun.StepDecideAppeal, readInto(func(st *baocun.Step, v *baocun.AppealDecisionInput) { st.AppealDecision = v })),
			in: baocun.AppealDecisionInput{}, out: baocun.StepResult{}, maxBody: bodyStep},
		{method: "GET", path: "/cycles/:id/results", summary: "验收结果与排名 Confirmed results, ranked (pairings and departments; final scores once final)", object: "cycle", action: "read",
			resource: cycleResource(d.Store), handler: handleResults(d.Store), out: results{}},
		{method: "GET", path: "/cycles/:id/statistics", summary: "统计 A cycle's figures by county, department, kind or class (?by=): residency compliance, overdue and escalated tasks, the ledger's funds and projects, class 2/3 coverage, income bands, class changes", object: "statistics", action: "read",
			resource: cycleResource(d.Store), handler: handleStatistics(d), out: baocun.Statistics{}},
		{method: "GET", path: "/cycles/:id/bulletins", summary: "通报列表 A cycle's published bulletins, the latest first", object: "bulletin", action: "read",
			resource: cycleResource(d.Store), handler: handleBulletins(d), out: page[baocun.BulletinSummary]{}},
		{method: "POST", path: "/cycles/:id/bulletins", summary: "发布通报 Publish the bulletin of a month (2027-03) or quarter (2027-Q1) from the figures as they stand; kept unchanged, its SHA-256 in the trail", object: "bulletin", action: "publish",
			resource: cycleResource(d.Store), handler: handlePublishBulletin(d), in: baocun.BulletinInput{}, out: baocun.BulletinSummary{}, status: 201},
		{method: "GET", path: "/cycles/:id/bulletins/:bulletin", summary: "通报 One bulletin as published, and whether it still hashes to what was published (?format=json|xlsx)", object: "bulletin", action: "read",
			resource: cycleResource(d.Store), handler: handleBulletin(d), out: bulletinAnswer{}},
		{method: "GET", path: "/cycles/:id/publicity", summary: "公示 What the programme publishes of a cycle: confirmed results ranked (department, village, total, grade), departments ranked, and the commended once the list is published; for every signed-in account",
			handler: handlePublicity(d.Store), out: baocun.Publicity{}},
		{method: "GET", path: "/cycles/:id/commendations", summary: "表彰名单 The commendation list: rankings, advanced departments, excellent cadres (?format=json|csv|xlsx)", object: "cycle", action: "read",
			resource: cycleResource(d.Store), handler: handleCommendation(d.Store), out: baocun.Commendation{}},
		{method: "GET", path: "/cycles/:id/commendations/proposals/:department", summary: "可推荐的优秀包村干部 The cadres a department may propose, and those it has", object: "commendation", action: "read",
			resource: commendationProposalResource(d.Store), handler: handleCandidates(d.Store), out: candidates{}, auditRead: true},
		{method: "POST", path: "/cycles/:id/commendations/proposals/:department", summary: "推荐优秀包村干部 Propose a department's excellent cadres", object: "commendation", action: "propose",
			resource: commendationProposalResource(d.Store), handler: cycleStepRoute(d, baocun.StepPropose, readProposal), in: baocun.ProposeInput{}, out: baocun.StepResult{}, maxBody: bodyStep},
		{method: "POST", path: "/cycles/:id/commendations/approval", summary: "审批并公布表彰名单 Approve and publish the commendation list", object: "commendation", action: "approve",
			resource: cycleResource(d.Store), handler: cycleStepRoute(d, baocun.StepApprove, readApproval), in: baocun.ApproveInput{}, out: baocun.StepResult{}, maxBody: bodyStep},
		{method: "GET", path: "/tasks", summary: "我的待办 The caller's inbox (?status=open|done|cancelled|expired|all)", handler: handleInbox(d.Store), out: page[baocun.Task]{}},
		{method: "GET", path: "/tasks/:id", summary: "待办详情 A task, who holds it, and what was done about it (reassigned, delegated, due date moved, reminded, noted)", object: "task", action: "read",
			resource: taskResource(d.Store), handler: handleTaskActions(d), out: taskActions{}},
		{method: "POST", path: "/tasks/:id/reassign", summary: "改派待办 Give a task to another account the policy lets act on it (an organiser)", object: "task", action: "reassign",
			resource: taskResource(d.Store), handler: handleReassign(d), in: baocun.ReassignInput{}, out: reassignAnswer{}},
		{method: "POST", path: "/tasks/:id/delegate", summary: "委托代办 Hand one's task to another account who may act on it, until a time (代理)", object: "task", action: "delegate",
			resource: taskResource(d.Store), handler: handleDelegateTask(d), in: baocun.DelegateInput{}, out: baocun.Delegation{}, status: 201},
		{method: "POST", path: "/tasks/:id/due", summary: "延期 Move an open task's due date (programme date) with a reason: its escalation is withdrawn, and comes again if the new date passes", object: "task", action: "extend",
			resource: taskResource(d.Store), handler: handleExtendDue(d), in: baocun.DueInput{}, out: baocun.StepResult{}, maxBody: bodyStep},
		{method: "POST", path: "/tasks/:id/remind", summary: "催办 Remind the task's holders now", object: "task", action: "remind",
			resource: taskResource(d.Store), handler: handleTaskNote(d, "remind"), in: baocun.NoteInput{}, out: reassignAnswer{}},
		{method: "POST", path: "/tasks/:id/notes", summary: "备注 Keep a note with a task", object: "task", action: "note",
			resource: taskResource(d.Store), handler: handleTaskNote(d, "note"), in: baocun.NoteInput{}, out: reassignAnswer{}},
		{method: "GET", path: "/delegations", summary: "我的代理 The caller's delegations given and received that have not ended", handler: handleDelegations(d), out: delegationList{}},
		{method: "POST", path: "/delegations", summary: "外出期间代理 Hand all one's assigned tasks to another account for a while", handler: handleDelegate(d), in: baocun.DelegationInput{}, out: baocun.Delegation{}, status: 201},
		{method: "DELETE", path: "/delegations/:id", summary: "撤销代理 End one's delegation", handler: handleRevokeDelegation(d), status: 204},
		{method: "POST", path: "/bulk/decisions", summary: "批量审批 Approve or return many nominations, plans or reports with one comment: each its own step, authorised and audited alone, answered item by item", handler: handleBulkDecisions(d),
			in: baocun.BulkDecisionInput{}, out: baocun.BulkResult{}, maxBody: bodyStep},
		{method: "POST", path: "/bulk/reminders", summary: "批量催办 Remind the holders of many tasks (each authorised as a reminder; all or none)", handler: handleBulkRemind(d),
			in: baocun.BulkRemindInput{}, out: baocun.BulkResult{}},
		{method: "GET", path: "/inspection-teams", summary: "检查验收组 A cycle's inspection teams, their raters and pairings (?cycle=)", object: "inspection_team", action: "read",
			resource: cityWide("inspection-teams"), handler: handleInspectionTeams(d), out: inspectionTeams{}},
		{method: "POST", path: "/inspection-teams", summary: "组建检查验收组 Form a named inspection team of raters for a cycle", object: "inspection_team", action: "create",
			resource: cityWide("inspection-teams"), handler: handleCreateInspectionTeam(d), in: baocun.InspectionTeamInput{}, out: baocun.InspectionTeam{}, status: 201},
		{method: "POST", path: "/inspection-teams/:id/pairings", summary: "分配结对 Assign pairings to an inspection team (never of a rater's own department); its raters alone score them", object: "inspection_team", action: "assign",
			resource: cityWide("inspection-teams"), handler: handleAssignPairings(d, false), in: baocun.AssignInput{}, out: assignAnswer{}},
		{method: "POST", path: "/cycles/:id/inspection-assignments", summary: "均衡分配 Spread a cycle's unassigned pairings over its inspection teams, the fewest first, never to a team with a rater of the pairing's department", object: "inspection_team", action: "assign",
			resource: cycleResource(d.Store), handler: handleAssignPairings(d, true), out: assignAnswer{}},

		{method: "GET", path: "/notifications", summary: "我的通知 The caller's notifications, newest first, with the unread count (?unread=1, ?cursor=&limit=); each says how its email and webhook stand",
			handler: handleNotifications(d.Store), out: notificationPage{}},
		{method: "POST", path: "/notifications/read", summary: "标为已读 Mark one's notifications read: {\"ids\":[…]} (another's ids are passed over) or {\"all\":true}",
			handler: handleMarkRead(d.Store), in: markReadRequest{}, out: markReadResult{}},
		{method: "GET", path: "/users/:username/contact", summary: "联系方式与通知设置 An account's email, webhook and notification preferences: one's own, or another's with user.update (audited)",
			handler: handleGetContact(d), out: baocun.Contact{}},
		{method: "PUT", path: "/users/:username/contact", summary: "设置联系方式 Set an account's email, webhook (https to a host the operator allows), muted kinds and daily digest: one's own, or another's with user.update; audited",
			handler: handlePutContact(d), in: contactInput{}, out: baocun.Contact{}},

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
	if !d.MetricsElsewhere {
		r.GET("/metrics", gin.WrapH(MetricsHandler(d.Registry)))
	}

	api := r.Group("/api/v1", requestID(), authenticate(d.Store))
	all := apiRoutes(d)
	r.GET("/api/openapi.json", handleOpenAPI(openAPI(all)))
	for _, rt := range all {
		limit := limitBody(rt.bodyLimit())
		switch {
		case rt.public:
			api.Handle(rt.method, rt.path, limit, rt.handler)
		case rt.object == "":
			api.Handle(rt.method, rt.path, limit, signedIn(rt, d), rt.handler)
		default:
			api.Handle(rt.method, rt.path, limit, authorize(rt, d), rt.handler)
		}
	}

	r.NoRoute(func(c *gin.Context) { // the UI answers a browser with a page instead (mountUI)
		writeError(c, http.StatusNotFound, "not_found", "没有这个地址 No such path: "+c.Request.URL.Path)
	})
}
