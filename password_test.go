package baocun_test

import (
	"errors"
	"strings"
	"testing"

	"baocun"
)

func TestPasswordHash(t *testing.T) {
	h, err := baocun.HashPassword("correct horse battery")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(h, "$argon2id$v=19$") {
		t.Fatalf("hash %q is not argon2id PHC form", h)
	}
	h2, _ := baocun.HashPassword("correct horse battery")
	if h == h2 {
		t.Fatal("two hashes of one password are equal: no salt")
	}
	tests := []struct {
		hash, password string
		want           bool
	}{
		{h, "correct horse battery", true},
		{h, "correct horse batterY", false},
		{h, "", false},
		{"$argon2id$v=19$m=1,t=1,p=1$!!$!!", "x", false},
		{"plain", "plain", false},
	}
	for _, tt := range tests {
		if got, err := baocun.CheckPassword(tt.hash, tt.password); err != nil || got != tt.want {
			t.Errorf("CheckPassword(%q, %q) = %v, %v", tt.hash, tt.password, got, err)
		}
	}
	if _, err := baocun.HashPassword("short"); baocun.ErrorCode(err) != baocun.EINVALID {
		t.Fatalf("short password: err = %v", err)
	}
}

// A password's length is counted in characters: ten Chinese characters are enough
// (thirty bytes of UTF-8 are not ten characters of ASCII), nine are not, and 257
// of anything are too many.
func TestValidatePassword(t *testing.T) {
	tests := []struct {
		name, password string
		ok             bool
		field          string
	}{
		{"nine ASCII", "abcdefghi", false, "too short"},
		{"ten ASCII", "abcdefghij", true, ""},
		{"nine Chinese (27 bytes)", strings.Repeat("密", 9), false, "too short"},
		{"ten Chinese", strings.Repeat("密", 10), true, ""},
		{"256 Chinese (768 bytes)", strings.Repeat("密", 256), true, ""},
		{"257 ASCII", strings.Repeat("a", 257), false, "too long"},
		{"257 emoji", strings.Repeat("🔑", 257), false, "too long"},
	}
	for _, tt := range tests {
		err := baocun.ValidatePassword(tt.password)
		var e *baocun.Error
		switch {
		case tt.ok && err != nil:
			t.Errorf("%s: %v, want accepted", tt.name, err)
		case !tt.ok && (!errors.As(err, &e) || e.Code != baocun.EINVALID || e.Fields["password"] != tt.field):
			t.Errorf("%s: %v, want %s naming password %q", tt.name, err, baocun.EINVALID, tt.field)
		}
	}
}
