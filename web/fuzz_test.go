package web_test

import (
	"testing"

	"baocun/sqldb/sqldbtest"
)

// FuzzJSONBodies sends arbitrary bodies to every route that reads one, as a user
// allowed to call it: bad input must be a 4xx, never a 5xx or a panic. Plain `go test`
// runs the seeds; `go test -fuzz FuzzJSONBodies ./web/` explores.
func FuzzJSONBodies(f *testing.F) {
	routes := []struct{ method, path string }{
		{"POST", "/api/v1/auth/login"},
		{"POST", "/api/v1/users"},
		{"POST", "/api/v1/policy/grants"},
		{"DELETE", "/api/v1/policy/grants"},
		{"POST", "/api/v1/import/villages"},
		{"POST", "/api/v1/import/people"},
		{"POST", "/api/v1/cycles"},
		{"POST", "/api/v1/cycles/1/cancel"},
		{"POST", "/api/v1/pairings/1/cancel"},
		{"POST", "/api/v1/pairings/1/team/decision"},
		{"POST", "/api/v1/import/departments"},
		{"PUT", "/api/v1/departments/D1"},
		{"PUT", "/api/v1/villages/V1"},
		{"PUT", "/api/v1/people/P1"},
		{"POST", "/api/v1/pairings/1/team"},
		{"POST", "/api/v1/pairings/1/team-changes"},
		{"POST", "/api/v1/pairings/1/arrival"},
		{"POST", "/api/v1/pairings/1/checkins"},
		{"POST", "/api/v1/pairings/1/plan"},
		{"POST", "/api/v1/pairings/1/reports"},
		{"POST", "/api/v1/pairings/2/decisions"},
		{"POST", "/api/v1/pairings/1/residency-flags"},
		{"POST", "/api/v1/pairings/1/visits"},
		{"POST", "/api/v1/pairings/1/evaluations"},
		{"POST", "/api/v1/pairings/1/acceptance/self-assessment"},
		{"POST", "/api/v1/pairings/2/acceptance/scores"},
		{"POST", "/api/v1/pairings/1/acceptance/confirm"},
		{"POST", "/api/v1/pairings/1/appeal"},
		{"POST", "/api/v1/pairings/2/appeal/decision"},
		{"POST", "/api/v1/cycles/1/commendations/proposals/D1"},
		{"POST", "/api/v1/cycles/1/commendations/approval"},
		{"PUT", "/api/v1/users/root/contact"},
		{"POST", "/api/v1/notifications/read"},
	}
	for i := range routes {
		f.Add(uint8(i), `{"username":"x","password":"y"}`)
		f.Add(uint8(i), `{"username":"新用户","password":"correct-horse-battery","roles":[{"role":"admin","jurisdiction":"*"}]}`)
		f.Add(uint8(i), `{"username":"admin","role":"reviewer","jurisdiction":"县A"} {}`)
		f.Add(uint8(i), "code,name,county,township,class\nV1,甲村,县A,一镇,9\n")
		f.Add(uint8(i), "\xff\xfe\x00")
		f.Add(uint8(i), `[]`)
		f.Add(uint8(i), `{"roles":null,"person_id":"P404"}`)
		f.Add(uint8(i), `{"name":"x","jurisdiction":"县A","start_date":"2027-02-30","pairings":[{"department_code":"D1","village_code":"V1","kind":"共建"}]}`)
		f.Add(uint8(i), `{"name":"x","jurisdiction":"*","start_date":"2027-01-01","clock_scale":1e300,"years":-1,"windows":{"decide_days":0}}`)
		f.Add(uint8(i), `{"task_id":"1-1","outcome":"return"}`)
		f.Add(uint8(i), `{"reason":"因故撤销"}`)
		f.Add(uint8(i), `{"leader":"P1","members":["P1","P404"]}`)
		f.Add(uint8(i), `{"period":1,"summary":"修路","funds_raised_wan":"1e9999","collective_income_wan":"-0","projects":{"road":-1}}`)
		f.Add(uint8(i), `{"dates":["2027-02-29","2027-01-01"]}`)
		f.Add(uint8(i), `{"scores":{"leadership.policy":"40.001","nope.x":"1"},"comment":""}`)
		f.Add(uint8(i), `{"task_id":"1-3","outcome":"revise","goods":{"prosperity":"100.5"},"reasons":"x"}`)
		f.Add(uint8(i), `{"cadres":[{"person_id":"P1","reason":""},{"person_id":"P1","reason":"x"}]}`)
		f.Add(uint8(i), `{"task_id":"c1-1","exclude":["P404"]}`)
		f.Add(uint8(i), `{"email":"a@b\r\nBcc: c@d","webhook_url":"https://oapi.dingtalk.com:99999/%zz","mute":[null],"ids":[-1,9223372036854775807]}`)
	}
	fx := newFixture(f, sqldbtest.SQLiteDSN(f))
	// Every role, as P1 (department D1, on pairing 1's team) of village V1: each
	// route reaches its body. A reviewer never acts on its own department, so the
	// reviewers' routes are called on pairing 2.
	fx.user("root", "P1", "V1", g("admin", "*"), g("organiser", "*"), g("reviewer", "*"), g("dept_lead", "*"), g("team_member", "*"), g("village", "*"))
	token := fx.login(fx.srv, "root")
	f.Fuzz(func(t *testing.T, route uint8, body string) {
		r := routes[int(route)%len(routes)]
		status, resp := call(t, fx.srv, token, r.method, r.path, body)
		if status >= 500 {
			t.Fatalf("%s %s with %q: %d %s", r.method, r.path, body, status, resp)
		}
	})
}
