package web

import (
	"net/http"
	"strconv"

	"github.com/gin-gonic/gin"

	"baocun"
)

type createUserRequest struct {
	Username    string         `json:"username"`
	Password    string         `json:"password"`
	PersonID    string         `json:"person_id"`
	VillageCode string         `json:"village_code"`
	Roles       []baocun.Grant `json:"roles"`
}

func handleCreateUser(store Store) gin.HandlerFunc {
	return func(c *gin.Context) {
		var req createUserRequest
		if err := decodeJSON(c, &req); err != nil {
			Error(c, err)
			return
		}
		hash, err := baocun.HashPassword(req.Password)
		if err != nil {
			Error(c, err)
			return
		}
		e := auditEntry(c, http.StatusCreated, map[string]any{
			"username": req.Username, "person_id": req.PersonID, "village_code": req.VillageCode, "roles": req.Roles,
		})
		e.Resource = "users/" + req.Username
		u, err := store.CreateUser(c.Request.Context(), baocun.NewUser{
			Username: req.Username, PasswordHash: hash, PersonID: req.PersonID, VillageCode: req.VillageCode, Roles: req.Roles,
		}, e)
		if err != nil {
			c.Set(ctxAudited, false) // nothing was written: authorize records the refusal
			Error(c, err)
			return
		}
		c.JSON(http.StatusCreated, u)
	}
}

func handleListUsers(store Store) gin.HandlerFunc {
	return func(c *gin.Context) {
		after, limit, err := pageParams(c)
		if err != nil {
			Error(c, err)
			return
		}
		users, err := store.Users(c.Request.Context(), after, limit+1)
		if err != nil {
			Error(c, err)
			return
		}
		c.JSON(http.StatusOK, pageOf(users, limit, func(u baocun.User) string { return strconv.FormatInt(u.ID, 10) }))
	}
}

func handleGetUser(store Store) gin.HandlerFunc {
	return func(c *gin.Context) {
		u, err := store.User(c.Request.Context(), c.Param("username"))
		if err != nil {
			Error(c, err)
			return
		}
		c.JSON(http.StatusOK, u)
	}
}

// pageParams reads a numeric ?cursor= and ?limit=.
func pageParams(c *gin.Context) (int64, int, error) {
	var after int64
	if s := c.Query("cursor"); s != "" {
		v, err := strconv.ParseInt(s, 10, 64)
		if err != nil || v < 0 {
			return 0, 0, &baocun.Error{Code: baocun.EINVALID, Message: "cursor 无效 Invalid cursor.", Fields: map[string]string{"cursor": "invalid"}}
		}
		after = v
	}
	limit, err := limitParam(c)
	return after, limit, err
}

// limitParam reads ?limit= (default 50, at most 500).
func limitParam(c *gin.Context) (int, error) {
	limit := 50
	if s := c.Query("limit"); s != "" {
		v, err := strconv.Atoi(s)
		if err != nil || v < 1 || v > 500 {
			return 0, &baocun.Error{Code: baocun.EINVALID, Message: "limit 须在 1–500 之间 limit must be 1–500.", Fields: map[string]string{"limit": "out of range"}}
		}
		limit = v
	}
	return limit, nil
}
