package web

import (
	"fmt"
	"strconv"

	"github.com/gin-gonic/gin"

	"baocun"
)

// Context keys of the lifecycle's loaders.
const (
	ctxPairing = "baocun.pairing" // *baocun.Pairing loaded by pairingResource
	ctxCycle   = "baocun.cycle"   // *baocun.Cycle loaded by cycleResource
	ctxLaunch  = "baocun.launch"  // *launchRequest read by launchResource
	ctxRecord  = "baocun.record"  // the directory record a loader found
	// ctxPairingFilter is the baocun.PairingFilter the list's loader authorised.
	ctxPairingFilter = "baocun.pairing_filter"
)

// The lifecycle's loaders: each reads the resource a route acts on, for the
// authorisation check before the handler.

// cycleResource loads the cycle in the path.
func cycleResource(store Store) loader {
	return func(c *gin.Context) (Resource, error) {
		id, err := idParam(c, "id")
		if err != nil {
			return Resource{}, err
		}
		cy, err := store.CycleRecord(c.Request.Context(), id)
		if err != nil {
			return Resource{}, err
		}
		c.Set(ctxCycle, cy)
		return Resource{Name: fmt.Sprintf("cycles/%d", id), Jurisdiction: cy.Jurisdiction, CycleID: fmt.Sprint(id)}, nil
	}
}

// cyclePairingsResource is a cycle's pairing list: of one county (?county=) or one
// department (?department=) where asked, so a county's roles and a department's lead
// may read their part of it.
func cyclePairingsResource(store Store) loader {
	return func(c *gin.Context) (Resource, error) {
		r, err := cycleResource(store)(c)
		if err != nil {
			return r, err
		}
		r.Name += "/pairings"
		f := baocun.PairingFilter{County: c.Query("county")}
		if f.County != "" && r.Jurisdiction == baocun.CityJurisdiction {
			r.Jurisdiction = f.County
		}
		if dept := c.Query("department"); dept != "" {
			dp, err := store.Department(c.Request.Context(), dept)
			if err != nil {
				return r, err
			}
			r.Department, f.Department = dp.Code, dp.Code
			if r.Jurisdiction == baocun.CityJurisdiction && dp.County != "" {
				// A county department's pairings as its county's roles see them: only
				// those in its county.
				r.Jurisdiction, f.County = dp.County, dp.County
			}
		}
		c.Set(ctxPairingFilter, f)
		return r, nil
	}
}

// pairingResource loads the pairing in the path: its village's county, department,
// village and team decide who may act on it.
func pairingResource(store Store) loader {
	return func(c *gin.Context) (Resource, error) {
		id, err := idParam(c, "id")
		if err != nil {
			return Resource{}, err
		}
		p, err := store.Pairing(c.Request.Context(), id)
		if err != nil {
			return Resource{}, err
		}
		c.Set(ctxPairing, p)
		return pairingAsResource(p), nil
	}
}

// pairingAsResource is a pairing as the policy sees it: where it is, whose, its team.
func pairingAsResource(p *baocun.Pairing) Resource {
	r := Resource{Name: fmt.Sprintf("pairings/%d", p.ID), Jurisdiction: p.County, Department: p.Department, Village: p.Village,
		PairingID: fmt.Sprint(p.ID), CycleID: fmt.Sprint(p.CycleID)}
	for _, m := range p.Team {
		r.TeamPeople = append(r.TeamPeople, m.PersonID)
		if m.Leader {
			r.TeamLeader = m.PersonID
		}
	}
	return r
}

func idParam(c *gin.Context, name string) (int64, error) {
	id, err := strconv.ParseInt(c.Param(name), 10, 64)
	if err != nil || id < 1 {
		return 0, &baocun.Error{Code: baocun.ENOTFOUND, Message: fmt.Sprintf("编号无效 No such %s: %q", name, c.Param(name))}
	}
	return id, nil
}

func loadedPairing(c *gin.Context) *baocun.Pairing {
	v, _ := c.Get(ctxPairing)
	return v.(*baocun.Pairing)
}

func loadedCycle(c *gin.Context) *baocun.Cycle {
	v, _ := c.Get(ctxCycle)
	return v.(*baocun.Cycle)
}
