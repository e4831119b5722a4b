package baocun_test

import (
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
