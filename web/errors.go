package web

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"baocun"
	"baocun/sheet"
)

// statusOf is the one mapping from error codes to HTTP statuses.
var statusOf = map[string]int{
	baocun.EINVALID:      http.StatusBadRequest,
	baocun.ENOTFOUND:     http.StatusNotFound,
	baocun.EUNAUTHORIZED: http.StatusUnauthorized,
	baocun.EFORBIDDEN:    http.StatusForbidden,
	baocun.ECONFLICT:     http.StatusConflict,
	baocun.ETOOLARGE:     http.StatusRequestEntityTooLarge,
	baocun.EUNAVAILABLE:  http.StatusServiceUnavailable,
	baocun.ETOOMANY:      http.StatusTooManyRequests,
	baocun.EINTERNAL:     http.StatusInternalServerError,
	// A rule of the programme broken by well-formed input (a check-in too late).
	baocun.EUNPROCESSABLE: http.StatusUnprocessableEntity,
	baocun.EUNSUPPORTED:   http.StatusUnsupportedMediaType,
}

// errorBody is the JSON shape of every error: {"error":{"code","message","fields"}}.
type errorBody struct {
	Error errorDetail `json:"error"`
}

type errorDetail struct {
	Code    string            `json:"code"`
	Message string            `json:"message"`
	Fields  map[string]string `json:"fields,omitempty"`
	// Rows lists what is wrong in a rejected file, line by line.
	Rows []baocun.RowError `json:"rows,omitempty"`
}

// Error writes err as the JSON error body with the status its code maps to. A
// rejected file is 422 with every bad row.
func Error(c *gin.Context, err error) {
	var ie *baocun.ImportError
	var se *sheet.Error
	switch {
	case errors.As(err, &ie):
		c.Error(err)
		c.AbortWithStatusJSON(http.StatusUnprocessableEntity, errorBody{Error: errorDetail{Code: baocun.EINVALID,
			Message: fmt.Sprintf("文件有 %d 处错误，未导入任何内容 The file has %d problems; nothing was imported.", len(ie.Rows), len(ie.Rows)), Rows: ie.Rows}})
		return
	case errors.As(err, &se):
		c.Error(err)
		c.AbortWithStatusJSON(http.StatusUnprocessableEntity, errorBody{Error: errorDetail{Code: baocun.EINVALID,
			Message: "文件无法读取，未导入任何内容 The file cannot be read; nothing was imported.",
			Rows:    []baocun.RowError{{Line: se.Line, Column: strconv.Itoa(se.Column), Message: se.Message}}}})
		return
	}
	code, message := baocun.ErrorCode(err), baocun.ErrorMessage(err)
	if code == baocun.EINTERNAL && databaseUnavailable(err) {
		code, message = baocun.EUNAVAILABLE, "数据库暂不可用，请稍后再试 The database is unavailable for a moment: try again."
	}
	status, ok := statusOf[code]
	if !ok {
		status = http.StatusInternalServerError
	}
	var fields map[string]string
	var e *baocun.Error
	if errors.As(err, &e) {
		fields = e.Fields
		if e.RetryAfter > 0 {
			c.Header("Retry-After", strconv.FormatInt(int64((e.RetryAfter+time.Second-1)/time.Second), 10))
		}
	}
	c.Error(err)
	c.AbortWithStatusJSON(status, errorBody{Error: errorDetail{Code: code, Message: message, Fields: fields}})
}

func writeError(c *gin.Context, status int, code, message string) {
	c.AbortWithStatusJSON(status, errorBody{Error: errorDetail{Code: code, Message: message}})
}

// databaseUnavailable reports whether err is the database refusing or losing a
// connection — SQLSTATE class 08 (connection), 53 (out of resources: too many
// clients) or 57P01–57P03 (shutting down, cannot connect now): the service is
// unavailable for a moment, not broken, and the caller may try again (503).
func databaseUnavailable(err error) bool {
	var pg interface{ SQLState() string }
	if !errors.As(err, &pg) {
		return false
	}
	s := pg.SQLState()
	return strings.HasPrefix(s, "08") || strings.HasPrefix(s, "53") || s == "57P01" || s == "57P02" || s == "57P03"
}
