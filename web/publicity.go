package web

import (
	"context"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/gin-gonic/gin"
	"golang.org/x/sync/singleflight"

	"baocun"
)

// Publicity (公示, issue 18): what the programme publishes of a cycle is readable by
// every signed-in account at GET /cycles/:id/publicity, and, when the operator
// enables it (Deps.PublicPublicity, serve --public-publicity), by anyone at
// /publicity/:cycle, a read-only page. Both show baocun.Publicity and nothing else
// of a result.

// handlePublicity answers GET /cycles/:id/publicity.
func handlePublicity(store Store) gin.HandlerFunc {
	return func(c *gin.Context) {
		id, err := idParam(c, "id")
		if err != nil {
			Error(c, err)
			return
		}
		p, err := publicityOf(c.Request.Context(), store, id)
		if err != nil {
			Error(c, err)
			return
		}
		c.JSON(http.StatusOK, p)
	}
}

func publicityOf(ctx context.Context, store Store, id int64) (*baocun.Publicity, error) {
	cy, err := store.CycleRecord(ctx, id)
	if err != nil {
		return nil, err
	}
	cm, err := store.Commendation(ctx, id)
	if err != nil {
		return nil, err
	}
	p := baocun.PublicityOf(cy, cm)
	return &p, nil
}

// publicPages serves /publicity/:cycle to anyone. Nobody signs in, so nothing
// limits who asks or how often: each cycle's publicity is computed at most once a
// minute (publicTTL), by one request while any others for it wait (singleflight),
// within publicTimeout; at most publicCycles cycles are held, the oldest dropped
// first. An id that is no cycle is answered from one primary-key read and not held,
// so asking for many such ids cannot push the real ones out.
type publicPages struct {
	ui    *ui
	store Store
	group singleflight.Group
	mu    sync.Mutex
	held  map[int64]publicEntry
	now   func() time.Time
}

type publicEntry struct {
	p  *baocun.Publicity // nil: nothing published (the page is not found)
	at time.Time
}

const (
	publicTTL     = time.Minute
	publicCycles  = 64
	publicTimeout = 30 * time.Second
)

func (pp *publicPages) get(ctx context.Context, id int64) (*baocun.Publicity, error) {
	pp.mu.Lock()
	e, ok := pp.held[id]
	pp.mu.Unlock()
	if ok && pp.now().Sub(e.at) < publicTTL {
		return e.p, nil
	}
	v, err, _ := pp.group.Do(strconv.FormatInt(id, 10), func() (any, error) {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), publicTimeout)
		defer cancel()
		p, err := publicityOf(ctx, pp.store, id)
		if baocun.ErrorCode(err) == baocun.ENOTFOUND {
			return (*baocun.Publicity)(nil), nil // no such cycle: not held
		}
		if err != nil {
			return nil, err
		}
		if len(p.Pairings) == 0 {
			p = nil // a cycle with nothing published is no page: not even its name shows
		}
		pp.mu.Lock()
		defer pp.mu.Unlock()
		if _, ok := pp.held[id]; !ok && len(pp.held) >= publicCycles {
			var oldest int64
			for k, e := range pp.held {
				if oldest == 0 || e.at.Before(pp.held[oldest].at) {
					oldest = k
				}
			}
			delete(pp.held, oldest)
		}
		pp.held[id] = publicEntry{p: p, at: pp.now()}
		return p, nil
	})
	if err != nil {
		return nil, err
	}
	return v.(*baocun.Publicity), nil
}

func (pp *publicPages) serve(c *gin.Context) {
	v := &view{Lang: pickLang(c), Path: c.Request.URL.Path, c: c, ui: pp.ui, Title: [2]string{"公示", "Publicity"}}
	notFound := &apiError{Status: http.StatusNotFound, errorDetail: errorDetail{Code: baocun.ENOTFOUND, Message: "没有公示的内容 Nothing is published here."}}
	id, err := strconv.ParseInt(c.Param("cycle"), 10, 64)
	if err != nil || id < 1 {
		pp.ui.renderError(c, v, notFound)
		return
	}
	p, err := pp.get(c.Request.Context(), id)
	switch {
	case err != nil:
		pp.ui.renderError(c, v, err)
	case p == nil:
		pp.ui.renderError(c, v, notFound)
	default:
		v.Data = p
		pp.ui.render(c, v, http.StatusOK, "publicity")
	}
}
