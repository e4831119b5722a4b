package web

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"

	"baocun"
	"baocun/sheet"
)

// Bulletins (通报, issue 18): published from the cycle's statistics, kept exactly as
// published, their hash in the audit trail.

// bulletinAnswer is one bulletin: its record, whether its content still hashes to
// what was published, and the content exactly as kept.
type bulletinAnswer struct {
	baocun.BulletinSummary
	Intact   bool            `json:"intact"`
	Bulletin json.RawMessage `json:"bulletin"`
}

// handlePublishBulletin publishes the bulletin of a month or quarter of the
// programme that has begun, from the figures as they stand.
func handlePublishBulletin(d Deps) gin.HandlerFunc {
	return func(c *gin.Context) {
		var in baocun.BulletinInput
		if !readValid(c, &in) {
			return
		}
		ctx, cy := c.Request.Context(), loadedCycle(c)
		start, _ := cy.Settings.Start()
		today := programmeToday(cy)
		// The figures are as they stand now: a bulletin reports the month or quarter
		// under way or the one just ended, never one long past under today's figures.
		if in.Start().After(today) || !in.End().After(start) || !today.Before(in.NextEnd()) {
			Error(c, fieldError("period", fmt.Sprintf("period: %s 须为本轮当前或刚结束的月份或季度（今天 %s） %s must be the programme's month or quarter under way or the one just ended (today is %s)",
				in.Period, today.Format(time.DateOnly), in.Period, today.Format(time.DateOnly))))
			return
		}
		now := time.Now()
		byCounty, err := d.Store.Statistics(ctx, cy.ID, "county", now)
		if err != nil {
			Error(c, err)
			return
		}
		byDept, err := d.Store.Statistics(ctx, cy.ID, "department", now)
		if err != nil {
			Error(c, err)
			return
		}
		names, err := d.Store.DepartmentNames(ctx)
		if err != nil {
			Error(c, err)
			return
		}
		u := currentUser(c)
		content, err := json.Marshal(baocun.NewBulletin(cy, in, byCounty, byDept, names, u.Username))
		if err != nil {
			Error(c, err)
			return
		}
		e := auditEntry(c, http.StatusCreated, nil)
		b, err := d.Store.PublishBulletin(ctx, baocun.BulletinSummary{CycleID: cy.ID, Period: in.Period, Kind: in.Kind(), PublishedBy: u.Username}, content, e)
		if err != nil {
			c.Set(ctxAudited, false)
			Error(c, err)
			return
		}
		c.JSON(http.StatusCreated, b)
	}
}

// handleBulletins lists a cycle's bulletins.
func handleBulletins(d Deps) gin.HandlerFunc {
	return func(c *gin.Context) {
		bs, err := d.Store.Bulletins(c.Request.Context(), loadedCycle(c).ID)
		if err != nil {
			Error(c, err)
			return
		}
		c.JSON(http.StatusOK, page[baocun.BulletinSummary]{Items: bs})
	}
}

// readBulletin loads the bulletin the path names, its content checked against the
// hash it was published with.
func readBulletin(c *gin.Context, d Deps) (*bulletinAnswer, *baocun.Bulletin, error) {
	id, err := idParam(c, "bulletin")
	if err != nil {
		return nil, nil, err
	}
	s, content, err := d.Store.Bulletin(c.Request.Context(), loadedCycle(c).ID, id)
	if err != nil {
		return nil, nil, err
	}
	sum := sha256.Sum256(content)
	a := &bulletinAnswer{BulletinSummary: *s, Intact: hex.EncodeToString(sum[:]) == s.SHA256, Bulletin: content}
	var b baocun.Bulletin
	if err := json.Unmarshal(content, &b); err != nil {
		return nil, nil, fmt.Errorf("bulletin %d: %w", id, err)
	}
	return a, &b, nil
}

// handleBulletin answers one bulletin: JSON, or (?format=xlsx) a workbook.
func handleBulletin(d Deps) gin.HandlerFunc {
	return func(c *gin.Context) {
		format := c.DefaultQuery("format", "json")
		if format != "json" && format != "xlsx" {
			Error(c, fieldError("format", "format 须为 json 或 xlsx format must be json or xlsx."))
			return
		}
		a, b, err := readBulletin(c, d)
		if err != nil {
			Error(c, err)
			return
		}
		if format == "json" {
			c.JSON(http.StatusOK, a)
			return
		}
		c.Header("Content-Disposition", fmt.Sprintf(`attachment; filename="baocun-bulletin-cycle-%d-%s.xlsx"`, b.CycleID, b.Period))
		c.Header("Content-Type", sheet.XLSXType)
		c.Status(http.StatusOK)
		if err := sheet.WriteXLSX(c.Writer, bulletinSheets(a, b)...); err != nil {
			c.Error(err)
		}
	}
}

// bulletinSheets are a bulletin as a workbook: the totals and the hash, by county,
// by department, the best and worst, the overdue.
func bulletinSheets(a *bulletinAnswer, b *baocun.Bulletin) []sheet.Sheet {
	dec := func(p any) string { return formatDecimal(p) }
	figures := []string{"结对 pairings", "驻村达标率% residency compliance", "逾期 overdue", "升级 escalated", "资金万元 funds (10k yuan)",
		"项目 projects", "完工 completed", "二三类村 class 2/3 villages", "已结对 paired", "验收 accepted", "摘帽 moved out of class 2/3"}
	row := func(key string, g baocun.StatisticGroup) []string {
		v23 := ""
		if g.Class23Villages != nil {
			v23 = fmt.Sprint(*g.Class23Villages)
		}
		return []string{key, fmt.Sprint(g.Pairings), dec(g.ResidencyCompliance), fmt.Sprint(g.OverdueTasks), fmt.Sprint(g.EscalatedTasks), g.FundsWan,
			fmt.Sprint(g.Projects), fmt.Sprint(g.ProjectsCompleted), v23, fmt.Sprint(g.Class23Paired), fmt.Sprint(g.Accepted), fmt.Sprint(g.MovedOutOf23)}
	}
	summary := sheet.Sheet{Name: "通报 Bulletin", Header: []string{"项 item", "值 value"}, Rows: [][]string{
		{"轮次 cycle", fmt.Sprintf("%d %s", b.CycleID, b.CycleName)}, {"期间 period", b.Period}, {"发布人 published by", a.PublishedBy},
		{"发布时间 published at", a.PublishedAt.In(baocun.ChinaTime).Format(time.DateTime)}, {"SHA-256", a.SHA256}}}
	county := sheet.Sheet{Name: "按县 By county", Header: append([]string{"县 county"}, figures...)}
	for _, g := range b.ByCounty {
		county.Rows = append(county.Rows, row(g.Key, g))
	}
	county.Rows = append(county.Rows, row("合计 total", b.Totals))
	dept := sheet.Sheet{Name: "按部门 By department", Header: append([]string{"部门 department"}, figures...)}
	for _, g := range b.ByDept {
		dept.Rows = append(dept.Rows, row(g.Key+" "+b.DeptNames[g.Key], g))
	}
	ranks := sheet.Sheet{Name: "先进后进 Best and worst", Header: []string{"类别 list", "部门 department", "驻村达标率% compliance", "结对 pairings"}}
	for _, l := range []struct {
		name string
		rs   []baocun.BulletinRank
	}{{"达标率最高 best", b.Best}, {"达标率最低 worst", b.Worst}} {
		for _, r := range l.rs {
			ranks.Rows = append(ranks.Rows, []string{l.name, r.Department + " " + r.Name, r.Compliance.String(), fmt.Sprint(r.Pairings)})
		}
	}
	overdue := sheet.Sheet{Name: "逾期 Overdue", Header: []string{"部门 department", "逾期 overdue", "升级 escalated"}}
	for _, o := range b.Overdue {
		overdue.Rows = append(overdue.Rows, []string{o.Department + " " + o.Name, fmt.Sprint(o.Overdue), fmt.Sprint(o.Escalated)})
	}
	return []sheet.Sheet{summary, county, dept, ranks, overdue}
}
