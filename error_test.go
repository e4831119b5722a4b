package baocun_test

import (
	"errors"
	"fmt"
	"testing"

	"baocun"
)

func TestErrorCodeAndMessage(t *testing.T) {
	cause := errors.New("disk full")
	tests := []struct {
		name     string
		err      error
		code     string
		message  string
		errorStr string
	}{
		{"nil", nil, "", "", ""},
		{"plain error is internal", cause, baocun.EINTERNAL, "内部错误 Internal error.", "disk full"},
		{"typed", baocun.Errorf(baocun.EINVALID, "bad %s", "x"), baocun.EINVALID, "bad x", "bad x"},
		{"wrapped typed", fmt.Errorf("ctx: %w", &baocun.Error{Code: baocun.ECONFLICT, Message: "已决定 decided", Op: "decide", Err: cause}),
			baocun.ECONFLICT, "已决定 decided", "ctx: decide: 已决定 decided: disk full"},
		{"typed without message hides cause", &baocun.Error{Code: baocun.EUNAVAILABLE, Err: cause}, baocun.EUNAVAILABLE, "内部错误 Internal error.", "disk full"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := baocun.ErrorCode(tt.err); got != tt.code {
				t.Errorf("ErrorCode = %q, want %q", got, tt.code)
			}
			if tt.err == nil {
				return
			}
			if got := baocun.ErrorMessage(tt.err); got != tt.message {
				t.Errorf("ErrorMessage = %q, want %q", got, tt.message)
			}
			if got := tt.err.Error(); got != tt.errorStr {
				t.Errorf("Error() = %q, want %q", got, tt.errorStr)
			}
			if !errors.Is(tt.err, cause) && tt.name != "typed" {
				t.Errorf("cause lost from chain")
			}
		})
	}
}
