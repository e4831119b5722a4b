package web

import (
	"fmt"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/shopspring/decimal"

	"baocun"
)

// The project ledger and the statistics (issue 18).

// ledgerStages are the stages a pairing's ledger is kept in: from the team's arrival
// to the end of acceptance.
var ledgerStages = map[baocun.Stage]bool{baocun.StageStationed: true, baocun.StagePlanning: true, baocun.StageReviews: true, baocun.StageAcceptance: true}

func ledgerOpen(p *baocun.Pairing) error {
	if !ledgerStages[p.Stage] {
		return baocun.Errorf(baocun.ECONFLICT, "结对处于%s阶段，台账不可更改 The pairing is at stage %s: its ledger is kept from the team's arrival to the end of acceptance.", baocun.StageNames[p.Stage], p.Stage)
	}
	return nil
}

// ledgerDay is the date a ledger step names (field "on"), or the programme's today:
// within the programme, never ahead of today.
func ledgerDay(d Deps, c *gin.Context, p *baocun.Pairing, on string) (string, error) {
	cy, err := d.Store.CycleRecord(c.Request.Context(), p.CycleID)
	if err != nil {
		return "", err
	}
	if on == "" {
		return programmeToday(cy).Format(time.DateOnly), nil
	}
	return on, checkPassedDate(cy, "on", on)
}

// handleProjects lists a pairing's ledger.
func handleProjects(d Deps) gin.HandlerFunc {
	return func(c *gin.Context) {
		ps, err := d.Store.Projects(c.Request.Context(), loadedPairing(c).ID)
		if err != nil {
			Error(c, err)
			return
		}
		c.JSON(http.StatusOK, page[baocun.Project]{Items: ps})
	}
}

// handleAddProject adds a planned project to the ledger.
func handleAddProject(d Deps) gin.HandlerFunc {
	return func(c *gin.Context) {
		var in baocun.ProjectInput
		if !readValid(c, &in) {
			return
		}
		p := loadedPairing(c)
		if err := ledgerOpen(p); err != nil {
			Error(c, err)
			return
		}
		if err := checkEvidence(c, d, p.ID, in); err != nil {
			Error(c, err)
			return
		}
		on, err := ledgerDay(d, c, p, "")
		if err != nil {
			Error(c, err)
			return
		}
		e := auditEntry(c, http.StatusCreated, nil)
		out, err := d.Store.AddProject(c.Request.Context(), baocun.Project{PairingID: p.ID, CycleID: p.CycleID, Kind: in.Kind, Name: in.Name,
			Quantity: in.Quantity, Unit: in.Unit, Investment: in.Investment, PlannedOn: on, FromPlan: in.FromPlan, Files: in.Files,
			CreatedBy: currentUser(c).Username}, e)
		if err != nil {
			c.Set(ctxAudited, false)
			Error(c, err)
			return
		}
		c.JSON(http.StatusCreated, out)
	}
}

// handleProjectProgress moves a project on: under way, or completed with evidence.
func handleProjectProgress(d Deps) gin.HandlerFunc {
	return func(c *gin.Context) {
		var in baocun.ProjectProgress
		if !readValid(c, &in) {
			return
		}
		stepProject(c, d, in, baocun.ProjectStep{Status: in.Status, Quantity: in.Quantity, Investment: in.Investment, Note: in.Note, Files: in.Files}, in.On)
	}
}

// handleProjectAcceptance is an inspector's acceptance of a completed project.
func handleProjectAcceptance(d Deps) gin.HandlerFunc {
	return func(c *gin.Context) {
		var in baocun.ProjectAcceptance
		if !readValid(c, &in) {
			return
		}
		stepProject(c, d, in, baocun.ProjectStep{Status: baocun.ProjectAccepted, Note: in.Note, Files: in.Files}, in.On)
	}
}

func stepProject(c *gin.Context, d Deps, in any, st baocun.ProjectStep, on string) {
	p := loadedPairing(c)
	id, err := idParam(c, "project")
	if err == nil {
		err = ledgerOpen(p)
	}
	if err == nil {
		err = checkEvidence(c, d, p.ID, in)
	}
	if err == nil {
		st.On, err = ledgerDay(d, c, p, on)
	}
	if err != nil {
		Error(c, err)
		return
	}
	st.By = currentUser(c).Username
	e := auditEntry(c, http.StatusOK, nil)
	out, err := d.Store.StepProject(c.Request.Context(), p.ID, id, st, e)
	if err != nil {
		c.Set(ctxAudited, false)
		Error(c, err)
		return
	}
	c.JSON(http.StatusOK, out)
}

// handleStatistics answers a cycle's figures (?by=county|department|kind|class).
func handleStatistics(d Deps) gin.HandlerFunc {
	return func(c *gin.Context) {
		by := c.DefaultQuery("by", "county")
		if !baocun.ValidStatisticsBy(by) {
			Error(c, fieldError("by", fmt.Sprintf("by: 须为 county、department、kind 或 class must be county, department, kind or class, not %q", by)))
			return
		}
		st, err := d.Store.Statistics(c.Request.Context(), loadedCycle(c).ID, by, time.Now())
		if err != nil {
			Error(c, err)
			return
		}
		c.JSON(http.StatusOK, st)
	}
}

// readReport reads a period's report. Its funds and projects are the ledger's
// (baocun.LedgerReport), never typed in: a client that sends them sends what the
// ledger says, or is refused naming the field.
func readReport(d Deps) func(c *gin.Context, p *baocun.Pairing, st *baocun.Step) (any, error) {
	return func(c *gin.Context, p *baocun.Pairing, st *baocun.Step) (any, error) {
		v := new(baocun.ReportInput)
		if err := decodeJSON(c, v); err != nil {
			return nil, err
		}
		if len(v.ProjectIDs) > 0 {
			return nil, fieldError("project_ids", "project_ids: 由项目台账确定，不能填写 the ledger names the report's projects; leave it out")
		}
		sent := *v // what names the step: filledReport
		ps, err := d.Store.Projects(c.Request.Context(), p.ID)
		if err != nil {
			return nil, err
		}
		funds, counts, ids := baocun.LedgerReport(ps, v.Period)
		if v.FundsRaisedWan != "" {
			sent, err := decimal.NewFromString(v.FundsRaisedWan)
			if err != nil || !sent.Equal(decimal.RequireFromString(funds)) {
				return nil, fieldError("funds_raised_wan", fmt.Sprintf("funds_raised_wan: 由项目台账计算为 %s 万元 the ledger's completed projects come to %s (万元), not %q; leave it out", funds, funds, v.FundsRaisedWan))
			}
		}
		for _, k := range baocun.ProjectKinds {
			if n, ok := v.Projects[k]; ok && n != counts[k] {
				return nil, fieldError("projects."+k, fmt.Sprintf("projects.%s: 台账完工项目为 %d 个 the ledger has %d completed, not %d; leave it out", k, counts[k], counts[k], n))
			}
		}
		v.FundsRaisedWan, v.Projects, v.ProjectIDs = funds, counts, ids
		if err := v.Validate(); err != nil {
			return nil, err
		}
		st.Report = v
		return filledReport{v, &sent}, nil
	}
}

// filledReport is a report as the API completed it from the ledger (audited as such),
// named by what the client sent: a retry under the same Idempotency-Key after the
// ledger moved on is still the same request.
type filledReport struct {
	*baocun.ReportInput
	sent *baocun.ReportInput
}

func (r filledReport) stepKey() any { return r.sent }
