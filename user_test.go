package baocun_test

import (
	"strings"
	"testing"

	"baocun"
)

// Every per-address limit counts a client by its network: one host holds a whole
// IPv6 /64 and may use a fresh address of it for every request.
func TestClientNetwork(t *testing.T) {
	for _, tt := range []struct{ addr, want string }{
		{"203.0.113.7", "203.0.113.7"},
		{"::ffff:203.0.113.7", "203.0.113.7"},
		{"2001:db8:1:2::1", "2001:db8:1:2::/64"},
		{"2001:db8:1:2:ffff:ffff:ffff:ffff", "2001:db8:1:2::/64"},
		{"fe80::1%eth0", "fe80::/64"},
		{"not an address", "not an address"},
	} {
		if got := baocun.ClientNetwork(tt.addr); got != tt.want {
			t.Errorf("ClientNetwork(%q) = %q, want %q", tt.addr, got, tt.want)
		}
	}
}

// A sign-in's name is checked against the accounts' pattern before anything counts
// or stores it.
func TestValidateUsername(t *testing.T) {
	for _, ok := range []string{"ab", "alice", "lead-d1", "a.b_c@d", strings.Repeat("x", 64)} {
		if err := baocun.ValidateUsername(ok); err != nil {
			t.Errorf("%q: %v", ok, err)
		}
	}
	for _, bad := range []string{"", "a", strings.Repeat("x", 65), strings.Repeat("x", 60<<10), "-a", "a b", "名字", "a\x00b"} {
		if err := baocun.ValidateUsername(bad); baocun.ErrorCode(err) != baocun.EINVALID {
			t.Errorf("%.20q: %v", bad, err)
		}
	}
}
