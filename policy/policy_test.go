package policy

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"baocun"
)

// memStore is a hand-written fake of the database's policy tables.
type memStore struct {
	mu      sync.Mutex
	rules   []Rule
	version int64
}

func (s *memStore) PolicyRules(context.Context) ([][]string, int64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([][]string, len(s.rules))
	for i, r := range s.rules {
		out[i] = slices.Clone(r)
	}
	return out, s.version, nil
}

func (s *memStore) PolicyVersion(context.Context) (int64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.version, nil
}

func (s *memStore) set(rules ...Rule) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rules = rules
	s.version++
}

func newStore(grants ...Rule) *memStore {
	s := &memStore{}
	s.set(append(DefaultRules(), grants...)...)
	return s
}

func TestDecide(t *testing.T) {
	s := newStore(
		Rule{"g", "city-organiser", "organiser", "*"},
		Rule{"g", "a-organiser", "organiser", "县A"},
		Rule{"g", "reviewer", "reviewer", "*"},
		Rule{"g", "lead", "dept_lead", "县A"},
		Rule{"g", "member", "team_member", "县A"},
		Rule{"g", "auditor", "auditor", "*"},
		Rule{"g", "organiser", "village", "县A"},
	)
	en, err := New(context.Background(), s)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		req  baocun.AccessRequest
		want bool
		rule string
	}{
		{"city role applies in a county", ask("city-organiser", "县B", "cycle", "launch"), true, "p, organiser, cycle, launch, any, allow"},
		{"county role in its county", ask("a-organiser", "县A", "cycle", "launch"), true, "p, organiser, cycle, launch, any, allow"},
		{"county role in another county", ask("a-organiser", "县B", "cycle", "launch"), false, DefaultDeny},
		{"county role on a city-wide resource", ask("a-organiser", "*", "cycle", "launch"), false, DefaultDeny},
		{"reviewer decides another department's stage", ask("reviewer", "县A", "stage", "decide"), true, "p, reviewer, stage, decide, any, allow"},
		{"reviewer never decides own department's stage", ask("reviewer", "县A", "stage", "decide", ScopeOwnDept), false, "p, reviewer, stage, decide, own_dept, deny"},
		{"reviewer never scores own department", ask("reviewer", "县A", "acceptance", "score", ScopeOwnDept), false, "p, reviewer, acceptance, score, own_dept, deny"},
		{"dept lead reads own pairing", ask("lead", "县A", "pairing", "read", ScopeOwnDept), true, "p, dept_lead, pairing, read, own_dept, allow"},
		{"dept lead cannot read another department's", ask("lead", "县A", "pairing", "read"), false, DefaultDeny},
		{"member reports for own pairing", ask("member", "县A", "report", "submit", ScopeOwnDept, ScopeOwnPairing), true, "p, team_member, report, submit, own_pairing, allow"},
		{"member cannot report for another pairing of the department", ask("member", "县A", "report", "submit", ScopeOwnDept), false, DefaultDeny},
		{"auditor reads, never changes", ask("auditor", "*", "audit", "read"), true, "p, auditor, audit, read, any, allow"},
		{"auditor cannot launch", ask("auditor", "*", "cycle", "launch"), false, DefaultDeny},
		{"unknown user", ask("nobody", "*", "directory", "read"), false, DefaultDeny},
		{"an account named like a role gets nothing from its name", ask("organiser", "县A", "cycle", "launch"), false, DefaultDeny},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := en.Decide(context.Background(), tt.req)
			if err != nil {
				t.Fatal(err)
			}
			if d.Allowed != tt.want || d.Rule != tt.rule {
				t.Fatalf("Decide = %+v, want allowed=%v rule %q", d, tt.want, tt.rule)
			}
		})
	}
}

// A revocation in the store is honoured by the very next decision, with decisions
// running concurrently (run under -race).
func TestRevocationTakesEffectAtOnce(t *testing.T) {
	grant := Rule{"g", "alice", "organiser", "*"}
	s := newStore(grant)
	en, err := New(context.Background(), s)
	if err != nil {
		t.Fatal(err)
	}
	req := ask("alice", "县A", "cycle", "launch")
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for range 4 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
					en.Decide(context.Background(), req)
				}
			}
		})
	}
	for i := range 20 {
		if d, _ := en.Decide(context.Background(), req); !d.Allowed {
			t.Fatalf("round %d: granted role refused", i)
		}
		s.set(DefaultRules()...) // revoke
		if d, _ := en.Decide(context.Background(), req); d.Allowed {
			t.Fatalf("round %d: revoked role still allowed by %s", i, d.Rule)
		}
		s.set(append(DefaultRules(), grant)...)
	}
	close(stop)
	wg.Wait()
}

func TestDefaultRulesAreWellFormed(t *testing.T) {
	scopes := map[string]bool{ScopeAny: true, ScopeOwnDept: true, ScopeOwnPairing: true, ScopeOwnVillage: true}
	defaults := map[string]bool{}
	for _, r := range DefaultRules() {
		if len(r) != 6 || r[0] != "p" || !scopes[r[4]] || (r[5] != "allow" && r[5] != "deny") {
			t.Errorf("bad rule %v", r)
		}
		defaults[r.String()] = true
	}
	// A database seeded after an addition must end as one seeded before it.
	for _, a := range Additions {
		for _, r := range a.Rules {
			if !defaults[r.String()] {
				t.Errorf("addition %s: %v is not in policy.csv", a.Name, r)
			}
		}
	}
}

// BenchmarkDecide measures one authorization decision (the Casbin enforcement, not
// the database's version read) at city and province scale, without a decision cache,
// and reports p50 and p99.
//
//	go test -run '^$' -bench Decide -benchtime 20000x ./policy/
func BenchmarkDecide(b *testing.B) {
	scales := []struct {
		name               string
		users, counties    int
		rolesPerUser       int
		departments, pairs int
	}{
		{"city_1000users_181depts_2000pairings", 1000, 12, 1, 181, 2000},
		{"province_100000assignments_200counties", 50000, 200, 2, 3000, 30000},
	}
	for _, sc := range scales {
		b.Run(sc.name, func(b *testing.B) {
			rules := DefaultRules()
			roles := []string{"organiser", "reviewer", "dept_lead", "team_member", "village", "auditor"}
			for u := range sc.users {
				for k := range sc.rolesPerUser {
					rules = append(rules, Rule{"g", fmt.Sprintf("u%d", u), roles[(u+k)%len(roles)], fmt.Sprintf("county%d", (u+k)%sc.counties)})
				}
			}
			s := &memStore{}
			s.set(rules...)
			en, err := New(context.Background(), s)
			if err != nil {
				b.Fatal(err)
			}
			acts := []struct{ obj, act string }{{"pairing", "read"}, {"stage", "decide"}, {"report", "submit"}, {"cycle", "launch"}}
			durations := make([]time.Duration, 0, b.N)
			i := 0
			for b.Loop() {
				a := acts[i%len(acts)]
				u := (i * 7919) % sc.users
				req := ask(fmt.Sprintf("u%d", u), fmt.Sprintf("county%d", (i*31)%sc.counties), a.obj, a.act, ScopeOwnDept)
				start := time.Now()
				if _, err := en.decide(req); err != nil {
					b.Fatal(err)
				}
				durations = append(durations, time.Since(start))
				i++
			}
			slices.Sort(durations)
			b.ReportMetric(float64(durations[len(durations)/2].Nanoseconds())/1000, "p50-µs")
			b.ReportMetric(float64(durations[len(durations)*99/100].Nanoseconds())/1000, "p99-µs")
		})
	}
}

func ask(user, jurisdiction, object, action string, relations ...string) baocun.AccessRequest {
	return baocun.AccessRequest{User: user, Jurisdiction: jurisdiction, Object: object, Action: action, Relations: relations}
}
