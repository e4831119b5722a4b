package baocun

import (
	"errors"
	"fmt"
	"slices"
	"time"
)

// Error codes: what kind of failure an Error is. The web layer maps each to one
// HTTP status in one place; the CLI prints the message.
const (
	EINVALID      = "invalid"      // the caller's input is wrong; nothing was changed
	ENOTFOUND     = "not_found"    // the thing asked for does not exist (or may not be seen)
	EUNAUTHORIZED = "unauthorized" // no valid credentials
	EFORBIDDEN    = "forbidden"    // valid credentials, not allowed
	ECONFLICT     = "conflict"     // the state changed under the caller: decided, duplicate, wrong stage
	ETOOLARGE     = "too_large"    // a request body over its route's limit; nothing of it was used
	EUNAVAILABLE  = "unavailable"  // a dependency (database, Temporal) cannot be reached
	EINTERNAL     = "internal"     // a bug or an unexpected failure
)

// ETOOMANY: the caller, or everyone at once, is over a limit (sign-in throttles, the
// password hashing slots); Error.RetryAfter says when to try again.
const ETOOMANY = "too_many_requests"

// EUNPROCESSABLE: well-formed input that breaks a rule of the programme — a day
// outside its window, later than its limit — named in Fields; nothing was changed.
const EUNPROCESSABLE = "unprocessable"

// EUNSUPPORTED: a file of a type the route does not take (sniffed from its content).
const EUNSUPPORTED = "unsupported_type"

var codes = [...]string{EINVALID, ENOTFOUND, EUNAUTHORIZED, EFORBIDDEN, ECONFLICT, ETOOLARGE, EUNAVAILABLE, EINTERNAL, ETOOMANY, EUNPROCESSABLE, EUNSUPPORTED}

// Codes returns every error code.
func Codes() []string { return slices.Clone(codes[:]) }

// IsCode reports whether s is an error code (a workflow's refusal names one).
func IsCode(s string) bool { return slices.Contains(codes[:], s) }

// Error is the one error type of the module. Message is for people (Chinese first,
// English beside it, where a user will read it); Op names the operation that failed
// for logs; Fields names the offending input fields; Err is the cause, never shown to
// users.
type Error struct {
	Code    string
	Message string
	Op      string
	Fields  map[string]string
	Err     error
	// RetryAfter is how long an ETOOMANY caller should wait before trying again.
	RetryAfter time.Duration
}

// Errorf returns an Error with the code and a formatted message.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

func (e *Error) Error() string {
	msg := e.Message
	if msg == "" && e.Err != nil {
		msg = e.Err.Error()
	}
	if e.Op != "" {
		msg = e.Op + ": " + msg
	}
	if e.Message != "" && e.Err != nil {
		msg += ": " + e.Err.Error()
	}
	return msg
}

func (e *Error) Unwrap() error { return e.Err }

// ErrorCode returns the code of the first *Error in err's chain, EINTERNAL for any
// other error and "" for nil.
func ErrorCode(err error) string {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) && e.Code != "" {
		return e.Code
	}
	return EINTERNAL
}

// ErrorMessage returns the user-facing message of err: the Message of the first
// *Error in its chain, or a generic one so internal details never leak.
func ErrorMessage(err error) string {
	var e *Error
	if errors.As(err, &e) && e.Message != "" {
		return e.Message
	}
	return "内部错误 Internal error."
}
