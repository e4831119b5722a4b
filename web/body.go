package web

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"

	"github.com/gin-gonic/gin"

	"baocun"
)

// Every route declares the largest body it reads (route.maxBody; bodySmall unless it
// says otherwise). Nothing reads a body before the gate has decided that the caller
// may use the route at all; then the body is read under the route's limit, and one
// whose declared length is over it is refused with 413 before a byte is read.
const (
	// bodySmall: a JSON object of a few fields (sign-in, an account, a grant, a
	// directory record, a cancellation).
	bodySmall = 64 << 10
	// bodyStep: a step or a proposal; the largest is a department's 50 cadres with
	// 2,000 characters of reasons each.
	bodyStep = 512 << 10
	// bodyFile: a directory file, or a launch with its pairings (20,000 inline
	// pairings are about 1.5 MB). What a file holds has package sheet's limits.
	bodyFile = 8 << 20
)

// ctxBodyLimit holds the route's body limit for the readers below.
const ctxBodyLimit = "baocun.body_limit"

// bodyLimit is the route's limit on the body it reads.
func (rt route) bodyLimit() int64 {
	if rt.maxBody > 0 {
		return rt.maxBody
	}
	return bodySmall
}

// limitBody makes the request's body unreadable past limit, whoever reads it.
func limitBody(limit int64) gin.HandlerFunc {
	return func(c *gin.Context) {
		c.Set(ctxBodyLimit, limit)
		if c.Request.Body != nil {
			c.Request.Body = http.MaxBytesReader(c.Writer, c.Request.Body, limit)
		}
		c.Next()
	}
}

func bodyLimitOf(c *gin.Context) int64 {
	if n, ok := c.Get(ctxBodyLimit); ok {
		return n.(int64)
	}
	return bodySmall
}

// tooLarge is the refusal of a body over its route's limit.
func tooLarge(limit int64) error {
	return &baocun.Error{Code: baocun.ETOOLARGE,
		Message: fmt.Sprintf("请求体超过本接口 %s 的上限 The request body is over this route's limit of %s.", byteSize(limit), byteSize(limit)),
		Fields:  map[string]string{"body": fmt.Sprintf("at most %d bytes", limit)}}
}

func byteSize(n int64) string {
	if n >= 1<<20 {
		return fmt.Sprintf("%d MiB", n>>20)
	}
	return fmt.Sprintf("%d KiB", n>>10)
}

// bodyError names the limit when a read stopped at it.
func bodyError(err error, limit int64) error {
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return tooLarge(limit)
	}
	return &baocun.Error{Code: baocun.EINVALID, Message: "请求体读取失败 The request body could not be read: " + err.Error()}
}

// readBody reads the whole body under the route's limit.
func readBody(c *gin.Context) ([]byte, error) {
	limit := bodyLimitOf(c)
	if c.Request.ContentLength > limit {
		return nil, tooLarge(limit)
	}
	if c.Request.Body == nil {
		return nil, nil
	}
	body := http.MaxBytesReader(c.Writer, c.Request.Body, limit)
	if n := c.Request.ContentLength; n > 0 {
		// The length is declared (and net/http holds the body to it): one buffer of
		// that size, not io.ReadAll's doublings, which hold twice the body at once.
		b := make([]byte, n)
		if _, err := io.ReadFull(body, b); err != nil {
			return nil, bodyError(err, limit)
		}
		return b, nil
	}
	b, err := io.ReadAll(body)
	if err != nil {
		return nil, bodyError(err, limit)
	}
	return b, nil
}

// decodeJSON reads the body as exactly one JSON object of v's shape, under the
// route's limit; unknown fields are refused so a misspelt field is not silently
// ignored.
func decodeJSON(c *gin.Context, v any) error {
	limit := bodyLimitOf(c)
	if c.Request.ContentLength > limit {
		return tooLarge(limit)
	}
	if c.Request.Body == nil {
		c.Request.Body = http.NoBody
	}
	dec := json.NewDecoder(http.MaxBytesReader(c.Writer, c.Request.Body, limit))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return tooLarge(limit)
		}
		return &baocun.Error{Code: baocun.EINVALID, Message: "请求体须为 JSON 对象 The request body must be a JSON object: " + err.Error()}
	}
	if dec.More() {
		return &baocun.Error{Code: baocun.EINVALID, Message: "请求体只能有一个 JSON 对象 The request body must hold one JSON object."}
	}
	return nil
}
