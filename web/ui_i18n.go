package web

import (
	"html/template"
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"
	"golang.org/x/text/language"

	"baocun"
)

// The UI speaks Chinese first with English beside it. A reader who prefers English
// (by the switch, kept in a cookie, or by Accept-Language) gets English first with
// the Chinese beside it: every string a user reads is in both languages either way.
const (
	langZH     = "zh-CN"
	langEN     = "en"
	langCookie = "baocun_lang"
)

var langMatcher = language.NewMatcher([]language.Tag{language.SimplifiedChinese, language.English})

// pickLang chooses the page's language: ?lang= (remembered in a cookie), then the
// cookie, then Accept-Language; Chinese when nothing says otherwise.
func pickLang(c *gin.Context) string {
	if l := c.Query("lang"); l == langZH || l == langEN {
		c.SetSameSite(http.SameSiteLaxMode)
		c.SetCookie(langCookie, l, 365*24*3600, "/", "", secure(c), true)
		return l
	}
	if l, err := c.Cookie(langCookie); err == nil && (l == langZH || l == langEN) {
		return l
	}
	tags, _, err := language.ParseAcceptLanguage(c.GetHeader("Accept-Language"))
	if err != nil || len(tags) == 0 {
		return langZH
	}
	if _, i, _ := langMatcher.Match(tags...); i == 1 {
		return langEN
	}
	return langZH
}

// bilingual renders a pair: the page language's text first, the other beside it,
// each marked with its language for screen readers.
func bilingual(lang, zh, en string) template.HTML {
	first, second, secondLang := zh, en, langEN
	if lang == langEN {
		first, second, secondLang = en, zh, langZH
	}
	if second == "" || second == first {
		return template.HTML(template.HTMLEscapeString(first))
	}
	return template.HTML(template.HTMLEscapeString(first) + ` <span class="alt" lang="` + secondLang + `">` +
		template.HTMLEscapeString(second) + `</span>`)
}

// plain is a pair as one string, for attributes and titles.
func plain(lang, zh, en string) string {
	if lang == langEN {
		return en + " " + zh
	}
	return zh + " " + en
}

// split reads the module's "中文 English" strings (stage names, rubric names) as a
// pair: the Chinese is everything before the first space.
func split(s string) (zh, en string) {
	zh, en, _ = strings.Cut(s, " ")
	return zh, en
}

var roleNames = map[baocun.Role][2]string{
	baocun.RoleAdmin: {"系统管理员", "admin"}, baocun.RoleOrganiser: {"组织部门", "organiser"},
	baocun.RoleReviewer: {"审核人员", "reviewer"}, baocun.RoleDeptLead: {"部门负责人", "department lead"},
	baocun.RoleTeamMember: {"工作组成员", "team member"}, baocun.RoleVillage: {"行政村", "village"},
	baocun.RoleAuditor: {"审计人员", "auditor"},
}

var statusNames = map[string][2]string{
	baocun.TaskOpen: {"待办", "open"}, baocun.TaskDone: {"已办", "done"},
	baocun.TaskCancelled: {"已撤销", "cancelled"}, baocun.TaskExpired: {"已过期", "expired"},
	baocun.CycleRunning: {"进行中", "running"}, baocun.CycleClosed: {"已结束", "closed"}, baocun.CycleFailed: {"启动失败", "failed"},
	baocun.OutcomeApprove: {"通过", "approved"}, baocun.OutcomeReturn: {"退回", "returned"},
	baocun.OutcomeAcknowledge: {"已知悉", "acknowledged"}, baocun.OutcomeSubmitted: {"已提交", "submitted"},
	"uphold": {"维持", "upheld"}, "revise": {"改判", "revised"},
	baocun.ProjectPlanned: {"计划", "planned"}, baocun.ProjectUnderWay: {"在建", "under way"}, baocun.ProjectCompleted: {"完工", "completed"},
	baocun.ProjectAccepted:     {"已验收", "accepted"},
	baocun.CommendationPending: {"待各结对结束", "pending"}, baocun.CommendationProposing: {"推荐中", "proposing"},
	baocun.CommendationApproving: {"待审批", "approving"}, baocun.CommendationPublished: {"已公布", "published"},
	baocun.CadreProposed: {"已推荐", "proposed"}, baocun.CadreApproved: {"已批准", "approved"}, baocun.CadreExcluded: {"不予表彰", "excluded"},
	baocun.DecisionAllow: {"允许", "allowed"}, baocun.DecisionDeny: {"拒绝", "denied"},
}

// eventNames name the timeline's entries; an unknown kind shows as it is.
var eventNames = map[string][2]string{
	"stage.entered": {"进入阶段", "stage entered"}, "team.nominated": {"提名工作组", "team nominated"},
	"team.approved": {"工作组获批", "team approved"}, "team.returned": {"工作组被退回", "team returned"},
	"team.arrived": {"工作组进驻", "team arrived"}, "team_change.requested": {"申请调整工作组", "team change requested"},
	"team_change.approved": {"工作组调整获批", "team change approved"}, "team_change.returned": {"工作组调整被退回", "team change returned"},
	"plan.submitted": {"提交规划", "plan submitted"}, "plan.approved": {"规划通过", "plan approved"}, "plan.returned": {"规划被退回", "plan returned"},
	"report.submitted": {"提交汇报", "report submitted"}, "report.approved": {"汇报通过", "report approved"}, "report.returned": {"汇报被退回", "report returned"},
	"evaluation.submitted": {"提交双评", "evaluation submitted"}, "visit.recorded": {"领导走访", "leader's visit"},
	"period.ended": {"考核期结束", "period ended"}, "residency.flagged": {"驻村天数不足", "residency under the rule"},
	"residency.acknowledged": {"已知悉驻村提示", "residency flag acknowledged"},
	"task.reminded":          {"提醒", "reminder"}, "task.escalated": {"逾期上报", "escalated"},
	"pairing.cancelled": {"结对撤销", "pairing cancelled"}, "acceptance.opened": {"开始验收", "acceptance opened"},
	"acceptance.self_assessed": {"提交自评", "self-assessed"}, "acceptance.scored": {"验收评分", "scored"},
	"acceptance.combined": {"合成得分", "scores combined"}, "acceptance.confirmed": {"确认验收结果", "acceptance confirmed"},
	"result.published": {"结果公示", "result published"}, "appeal.filed": {"提出申诉", "appeal filed"},
	"appeal.decided": {"申诉裁决", "appeal decided"}, "result.final": {"最终结果", "final result"},
}

// dataNames name the fields of the timeline's entries; others show as they are.
var dataNames = map[string][2]string{
	"outcome": {"结果", "outcome"}, "comment": {"意见", "comment"}, "summary": {"内容", "summary"}, "title": {"标题", "title"},
	"goals": {"目标", "goals"}, "report": {"汇报", "report"}, "version": {"稿次", "version"}, "reason": {"理由", "reason"},
	"reasons": {"理由", "reasons"}, "stage": {"阶段", "stage"}, "note": {"说明", "note"}, "kind": {"事项", "task"},
	"due_date": {"期限", "due"}, "member_months": {"考核人月", "member-months"}, "member_months_short": {"不足人月", "member-months short"},
	"total": {"总分", "total"}, "grade": {"等次", "grade"}, "new_class": {"村新类别", "new class"}, "scores": {"评分", "scores"},
	"year": {"年度", "year"}, "respondents": {"参评人数", "respondents"}, "villager_satisfaction": {"群众满意率", "villagers' satisfaction"},
	"grassroots_satisfaction": {"基层满意率", "grass-roots satisfaction"}, "date": {"日期", "date"}, "visitor": {"走访领导", "visitor"},
	"purpose": {"事由", "purpose"}, "leader": {"组长", "leader"}, "members": {"组员", "members"}, "team": {"工作组", "team"},
	"change": {"调整", "change"}, "min_raters": {"最少评分人数", "raters needed"}, "goods": {"各项得分", "goods"}, "appealed": {"曾申诉", "appealed"},
}

var projectNames = map[string][2]string{
	"road": {"道路", "roads"}, "water": {"饮水", "water"}, "school": {"学校", "schools"}, "power": {"电力", "power"},
	"clinic": {"卫生室", "clinics"}, "industry": {"产业", "industry"}, "other": {"其他", "other"},
}

var kindNames = map[string][2]string{baocun.KindSupport: {"包扶", "support"}, baocun.KindModel: {"共建", "model"}}

// named renders a code through one of the maps above, or the code itself.
func named[K ~string](lang string, names map[K][2]string, code K) template.HTML {
	if n, ok := names[code]; ok {
		return bilingual(lang, n[0], n[1])
	}
	return template.HTML(template.HTMLEscapeString(string(code)))
}

// stageName renders a stage by the module's own names.
func stageName(lang string, stage baocun.Stage) template.HTML {
	if s, ok := baocun.StageNames[stage]; ok {
		return pairOf(lang, s)
	}
	return template.HTML(template.HTMLEscapeString(string(stage)))
}
