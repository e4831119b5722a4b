package web

import (
	"errors"
	"net/http"

	"github.com/gin-gonic/gin"

	"baocun"
)

// statusOf is the one mapping from error codes to HTTP statuses.
var statusOf = map[string]int{
	baocun.EINVALID:      http.StatusBadRequest,
	baocun.ENOTFOUND:     http.StatusNotFound,
	baocun.EUNAUTHORIZED: http.StatusUnauthorized,
	baocun.EFORBIDDEN:    http.StatusForbidden,
	baocun.ECONFLICT:     http.StatusConflict,
	baocun.EUNAVAILABLE:  http.StatusServiceUnavailable,
	baocun.EINTERNAL:     http.StatusInternalServerError,
}

// errorBody is the JSON shape of every error: {"error":{"code","message","fields"}}.
type errorBody struct {
	Error errorDetail `json:"error"`
}

type errorDetail struct {
	Code    string            `json:"code"`
	Message string            `json:"message"`
	Fields  map[string]string `json:"fields,omitempty"`
}

// Error writes err as the JSON error body with the status its code maps to.
func Error(c *gin.Context, err error) {
	code := baocun.ErrorCode(err)
	status, ok := statusOf[code]
	if !ok {
		status = http.StatusInternalServerError
	}
	var fields map[string]string
	var e *baocun.Error
	if errors.As(err, &e) {
		fields = e.Fields
	}
	c.Error(err)
	c.AbortWithStatusJSON(status, errorBody{Error: errorDetail{Code: code, Message: baocun.ErrorMessage(err), Fields: fields}})
}

func writeError(c *gin.Context, status int, code, message string) {
	c.AbortWithStatusJSON(status, errorBody{Error: errorDetail{Code: code, Message: message}})
}
