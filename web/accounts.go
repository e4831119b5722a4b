package web

import (
	"net/http"
	"time"

	"github.com/gin-gonic/gin"

	"baocun"
)

// Accounts over their lifetime: every change goes through Store.UpdateAccount, which
// writes it, ends the sessions it must and audits the account before and after, in
// one transaction.

// patchUserRequest is PATCH /users/{username}: the fields given change.
type patchUserRequest struct {
	// Disabled: a disabled account cannot sign in and its sessions end at once.
	Disabled *bool `json:"disabled,omitempty"`
	// DepartmentCode confirms a move the directory made: it must be the person's
	// department there now, and becomes the account's (its scope).
	DepartmentCode *string `json:"department_code,omitempty"`
}

func handlePatchUser(store Store) gin.HandlerFunc {
	return func(c *gin.Context) {
		var req patchUserRequest
		if err := decodeJSON(c, &req); err != nil {
			Error(c, err)
			return
		}
		if req.Disabled == nil && req.DepartmentCode == nil {
			Error(c, &baocun.Error{Code: baocun.EINVALID, Message: "没有要修改的内容 Nothing to change: give disabled or department_code."})
			return
		}
		name := c.Param("username")
		if req.Disabled != nil && *req.Disabled && name == currentUser(c).Username {
			Error(c, &baocun.Error{Code: baocun.ECONFLICT, Fields: map[string]string{"disabled": "self"},
				Message: "不能停用自己的账户 You cannot disable your own account."})
			return
		}
		updateAccount(c, store, name, baocun.AccountChange{Disabled: req.Disabled, Department: req.DepartmentCode},
			func(u *baocun.User, _ int) { c.JSON(http.StatusOK, u) })
	}
}

// resetPasswordRequest is an admin's reset: the account must change it at its next
// sign-in.
type resetPasswordRequest struct {
	Password string `json:"password"`
}

func handleResetPassword(store Store) gin.HandlerFunc {
	return func(c *gin.Context) {
		var req resetPasswordRequest
		if err := decodeJSON(c, &req); err != nil {
			Error(c, err)
			return
		}
		hash, err := baocun.HashPassword(req.Password)
		if err != nil {
			Error(c, err)
			return
		}
		// A new password is a fresh start: the failures counted against the old one
		// lock nobody out of the new.
		updateAccount(c, store, c.Param("username"), baocun.AccountChange{PasswordHash: hash, MustChangePassword: true, Unlock: true},
			func(u *baocun.User, _ int) { c.JSON(http.StatusOK, u) })
	}
}

func handleUnlock(store Store) gin.HandlerFunc {
	return func(c *gin.Context) {
		updateAccount(c, store, c.Param("username"), baocun.AccountChange{Unlock: true},
			func(u *baocun.User, _ int) { c.JSON(http.StatusOK, u) })
	}
}

func handleListSessions(store Store) gin.HandlerFunc {
	return func(c *gin.Context) {
		limit, err := limitParam(c)
		if err != nil {
			Error(c, err)
			return
		}
		ss, next, err := store.Sessions(c.Request.Context(), c.Param("username"), time.Now(), c.Query("cursor"), limit)
		if err != nil {
			Error(c, err)
			return
		}
		c.JSON(http.StatusOK, page[baocun.Session]{Items: ss, NextCursor: next})
	}
}

type sessionsEnded struct {
	Ended int `json:"ended"`
}

func handleEndSessions(store Store) gin.HandlerFunc {
	return func(c *gin.Context) {
		updateAccount(c, store, c.Param("username"), baocun.AccountChange{EndSessions: true},
			func(_ *baocun.User, n int) { c.JSON(http.StatusOK, sessionsEnded{Ended: n}) })
	}
}

// updateAccount makes the change with the entry the gate drafted, and answers with ok.
func updateAccount(c *gin.Context, store Store, username string, ch baocun.AccountChange, ok func(*baocun.User, int)) {
	e := auditEntry(c, http.StatusOK, nil)
	u, n, err := store.UpdateAccount(c.Request.Context(), username, ch, e)
	if err != nil {
		c.Set(ctxAudited, false) // nothing was written: the gate records the refusal
		Error(c, err)
		return
	}
	ok(u, n)
}

type changePasswordRequest struct {
	OldPassword string `json:"old_password"`
	NewPassword string `json:"new_password"`
}

// handleChangePassword is the owner changing their own password: the current one
// is checked as a sign-in is (a stolen session guessing it meets the same limits and
// lock), the new one must differ, and every other session of the account ends.
func handleChangePassword(d Deps) gin.HandlerFunc {
	return func(c *gin.Context) {
		var req changePasswordRequest
		if err := decodeJSON(c, &req); err != nil {
			Error(c, err)
			return
		}
		fields := map[string]string{}
		if req.OldPassword == "" {
			fields["old_password"] = "required"
		}
		if req.NewPassword == "" {
			fields["new_password"] = "required"
		} else if req.NewPassword == req.OldPassword {
			fields["new_password"] = "same as the old"
		}
		if len(fields) > 0 {
			Error(c, &baocun.Error{Code: baocun.EINVALID, Fields: fields,
				Message: "请填写原密码和一个不同的新密码 Give the current password and a different new one."})
			return
		}
		// The new password's rules first (a refused one costs no guess at the old),
		// then the old one through every limit a sign-in meets, and only then the
		// new one's hash: a caller the limits refuse costs no password slot.
		if err := baocun.ValidatePassword(req.NewPassword); err != nil {
			Error(c, err)
			return
		}
		u := currentUser(c)
		e := baseEntry(c, "user.password_change")
		e.Resource = "users/" + u.Username
		res, err := signIn(c, d, u.Username, req.OldPassword)
		if err != nil {
			if baocun.ErrorCode(err) == baocun.EUNAUTHORIZED {
				err = &baocun.Error{Code: baocun.EINVALID, Fields: map[string]string{"old_password": "wrong"},
					Message: "原密码错误，或尝试次数过多请稍后再试 The current password is wrong, or too many attempts: wait a while and try again."}
			}
			if aerr := auditRefusedSignIn(c, d, e, res, err); aerr != nil {
				Error(c, aerr)
				return
			}
			Error(c, err)
			return
		}
		hash, err := baocun.HashPassword(req.NewPassword)
		if err != nil {
			Error(c, err)
			return
		}
		e.Status = http.StatusNoContent
		// Only over the credential that was checked: an admin's reset committed
		// meanwhile stands, and this change is refused (409).
		if _, _, err := d.Store.UpdateAccount(c.Request.Context(), u.Username,
			baocun.AccountChange{PasswordHash: hash, KeepToken: c.GetString(ctxToken), IfEpoch: &res.Epoch}, e); err != nil {
			Error(c, err)
			return
		}
		// No known-device cookie: the new password moved the epoch past res.Device's,
		// and the next sign-in earns a fresh one.
		c.Status(http.StatusNoContent)
	}
}
