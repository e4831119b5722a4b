package web

import (
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strconv"

	"github.com/gin-gonic/gin"

	"baocun"
	"baocun/sheet"
)

// commendationProposalResource is a department's proposal in a cycle's
// commendation: the cycle, and the department in the path (so a department lead
// proposes for their own department only).
func commendationProposalResource(store Store) loader {
	return func(c *gin.Context) (Resource, error) {
		r, err := cycleResource(store)(c)
		if err != nil {
			return r, err
		}
		dp, err := store.Department(c.Request.Context(), c.Param("department"))
		if err != nil {
			return r, err
		}
		r.Name += "/commendations/proposals/" + dp.Code
		r.Department = dp.Code
		if r.Jurisdiction == baocun.CityJurisdiction && dp.County != "" {
			r.Jurisdiction = dp.County
		}
		return r, nil
	}
}

// cycleStepRoute is a step of a cycle's commendation: the body read into the
// Step and sent to the engine.
func cycleStepRoute(d Deps, kind baocun.StepKind, read func(c *gin.Context, st *baocun.Step) (any, error)) gin.HandlerFunc {
	return func(c *gin.Context) {
		cy := loadedCycle(c)
		st := baocun.Step{Kind: kind, Cycle: cy.ID, Actor: currentUser(c).Username}
		payload, err := read(c, &st)
		if err != nil {
			Error(c, err)
			return
		}
		sendStep(c, d, st, payload)
	}
}

// candidates is GET /cycles/{id}/commendations/proposals/{department}: the people the
// department may propose, with their pairings, and those it has proposed.
type candidates struct {
	Department string         `json:"department_code"`
	Eligible   []candidate    `json:"eligible"`
	Proposed   []baocun.Cadre `json:"proposed"`
}

type candidate struct {
	PersonID  string `json:"person_id"`
	Name      string `json:"name"`
	PairingID int64  `json:"pairing_id"`
	Village   string `json:"village_name"`
	Grade     string `json:"grade"`
}

func handleCandidates(store Store) gin.HandlerFunc {
	return func(c *gin.Context) {
		ctx, cy, dept := c.Request.Context(), loadedCycle(c), c.Param("department")
		el, err := store.Eligible(ctx, cy.ID, dept)
		if err != nil {
			Error(c, err)
			return
		}
		cm, err := store.Commendation(ctx, cy.ID)
		if err != nil {
			Error(c, err)
			return
		}
		people, err := store.People(ctx, dept)
		if err != nil {
			Error(c, err)
			return
		}
		names := map[string]string{}
		for _, p := range people {
			names[p.ID] = p.Name
		}
		ranked := map[int64]baocun.Ranked{}
		for _, p := range cm.Pairings {
			ranked[p.PairingID] = p
		}
		out := candidates{Department: dept, Eligible: []candidate{}, Proposed: []baocun.Cadre{}}
		for _, e := range el {
			for _, id := range slices.Sorted(maps.Keys(e.People)) {
				p := ranked[e.People[id]]
				out.Eligible = append(out.Eligible, candidate{PersonID: id, Name: names[id], PairingID: p.PairingID, Village: p.VillageName, Grade: p.Grade})
			}
		}
		for _, cd := range cm.Cadres {
			if cd.Department == dept {
				out.Proposed = append(out.Proposed, cd)
			}
		}
		c.JSON(http.StatusOK, out)
	}
}

func readProposal(c *gin.Context, st *baocun.Step) (any, error) {
	in := new(baocun.ProposeInput)
	if err := decodeJSON(c, in); err != nil {
		return nil, err
	}
	if err := in.Validate(); err != nil {
		return nil, err
	}
	st.Propose, st.Department = in, c.Param("department")
	return in, nil
}

func readApproval(c *gin.Context, st *baocun.Step) (any, error) {
	in := new(baocun.ApproveInput)
	if err := decodeJSON(c, in); err != nil {
		return nil, err
	}
	if err := in.Validate(); err != nil {
		return nil, err
	}
	st.Approve = in
	return in, nil
}

// handleCommendation is a cycle's commendation list: JSON, or (?format=csv|xlsx) a
// file officials open in Excel or WPS.
func handleCommendation(store Store) gin.HandlerFunc {
	return func(c *gin.Context) {
		format := c.DefaultQuery("format", "json")
		if format != "json" && format != "csv" && format != "xlsx" {
			Error(c, &baocun.Error{Code: baocun.EINVALID, Message: "format 须为 json、csv 或 xlsx format must be json, csv or xlsx.", Fields: map[string]string{"format": "invalid"}})
			return
		}
		cm, err := store.Commendation(c.Request.Context(), loadedCycle(c).ID)
		if err != nil {
			Error(c, err)
			return
		}
		if format == "json" {
			c.JSON(http.StatusOK, cm)
			return
		}
		name := fmt.Sprintf("baocun-commendation-cycle-%d-%s.%s", cm.CycleID, cm.Status, format)
		c.Header("Content-Disposition", fmt.Sprintf(`attachment; filename="%s"`, name))
		streaming(c) // a city's workbook of 20,000 ranked pairings takes a while to send
		sheets := commendationSheets(cm)
		if format == "csv" {
			c.Header("Content-Type", "text/csv; charset=utf-8")
			c.Status(http.StatusOK)
			err = sheet.WriteCSV(c.Writer, sheets[0])
		} else {
			c.Header("Content-Type", sheet.XLSXType)
			c.Status(http.StatusOK)
			err = sheet.WriteXLSX(c.Writer, sheets...)
		}
		if err != nil {
			c.Error(err) // the header is gone: the truncated body and the log say it failed
		}
	}
}

// commendationSheets are the list (the advanced departments and the approved
// cadres: what is published), then the pairings' and departments' rankings.
func commendationSheets(cm *baocun.Commendation) []sheet.Sheet {
	list := sheet.Sheet{Name: "表彰名单 Commendation",
		Header: []string{"类别 kind", "名次 rank", "单位 department", "单位名称 department name", "姓名 name", "人员编号 person", "结对村 village", "等次 grade", "得分 score", "事由 reason", "状态 status"}}
	ranks := map[string]baocun.DepartmentRank{}
	for _, d := range cm.Departments {
		ranks[d.Department] = d
		if d.Advanced {
			list.Rows = append(list.Rows, []string{"先进单位 advanced department", strconv.Itoa(d.Rank), d.Department, d.Name, "", "", "",
				baocun.GradeNames[baocun.GradeExcellent], d.Mean.StringFixed(2), "", cm.Status})
		}
	}
	pairings := map[int64]baocun.Ranked{}
	for _, p := range cm.Pairings {
		pairings[p.PairingID] = p
	}
	for _, cd := range cm.Cadres {
		if cd.Status == baocun.CadreExcluded {
			continue
		}
		p := pairings[cd.PairingID]
		list.Rows = append(list.Rows, []string{"优秀包村干部 excellent cadre", "", cd.Department, ranks[cd.Department].Name, cd.Name, cd.PersonID,
			p.VillageName, baocun.GradeNames[p.Grade], p.Total.StringFixed(2), cd.Reason, cd.Status})
	}
	ranking := sheet.Sheet{Name: "结对排名 Pairings", Header: []string{"名次 rank", "结对 pairing", "单位 department", "单位名称 department name", "村 village", "村名 village name", "总分 total", "等次 grade"}}
	for _, p := range cm.Pairings {
		ranking.Rows = append(ranking.Rows, []string{strconv.Itoa(p.Rank), strconv.FormatInt(p.PairingID, 10), p.Department, p.DepartmentName,
			p.Village, p.VillageName, p.Total.StringFixed(2), baocun.GradeNames[p.Grade]})
	}
	depts := sheet.Sheet{Name: "单位排名 Departments", Header: []string{"名次 rank", "单位 department", "单位名称 name", "结对数 pairings", "平均分 mean", "优秀 excellent", "不合格 failed", "先进单位 advanced"}}
	for _, d := range cm.Departments {
		adv := ""
		if d.Advanced {
			adv = "是 yes"
		}
		depts.Rows = append(depts.Rows, []string{strconv.Itoa(d.Rank), d.Department, d.Name, strconv.Itoa(d.Pairings), d.Mean.StringFixed(2),
			strconv.Itoa(d.Excellent), strconv.Itoa(d.Failed), adv})
	}
	return []sheet.Sheet{list, ranking, depts}
}
