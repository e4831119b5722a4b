package demo

import (
	"context"
	"fmt"
	"strings"
	"sync"

	"baocun"
	"baocun/apiclient"
)

// Cast is every account of the sample directory's programme, each signed in: the
// demo plays them, and the end-to-end and fault tests share them as their one test
// environment.
type Cast struct {
	Admin, Org, Auditor *apiclient.Client
	Reviewers           map[string]*apiclient.Client // department → its reviewer
	Leads               map[string]*apiclient.Client // department → its lead
	Members             map[string]*apiclient.Client // person → their team_member account (every department's staff)
	Villages            map[string]*apiclient.Client // paired village → its account
}

// newAccount is an account of the cast, and where its signed-in client goes.
type newAccount struct {
	apiclient.Account
	signedIn func(*apiclient.Client)
}

// SetUp signs in as admin with password, has an organiser import the sample
// directory, and creates and signs in the rest of the cast, every account with
// password: usernames organiser, auditor, reviewer-<person>, lead-<department>,
// member-<person> and village-<village> (lower case). The organiser, the auditor and
// the reviewers hold their roles city-wide; a lead and a member in their department's
// jurisdiction, a village in its county. Every department's staff get accounts, not
// only the teams. say, if not nil, is told what was done.
func SetUp(ctx context.Context, anon *apiclient.Client, s *Sample, password string, say func(format string, args ...any)) (*Cast, error) {
	if say == nil {
		say = func(string, ...any) {}
	}
	c := &Cast{Reviewers: map[string]*apiclient.Client{}, Leads: map[string]*apiclient.Client{},
		Members: map[string]*apiclient.Client{}, Villages: map[string]*apiclient.Client{}}
	var err error
	if c.Admin, err = anon.SignIn(ctx, "admin", password); err != nil {
		return nil, fmt.Errorf("demo: admin sign-in: %w", err)
	}
	grant := func(role baocun.Role, jurisdiction string) []baocun.Grant {
		return []baocun.Grant{{Role: role, Jurisdiction: jurisdiction}}
	}
	organiser := newAccount{apiclient.Account{Username: "organiser", Roles: grant(baocun.RoleOrganiser, baocun.CityJurisdiction)}, func(o *apiclient.Client) { c.Org = o }}
	if err := c.create(ctx, anon, password, []newAccount{organiser}); err != nil {
		return nil, err
	}
	for _, f := range []struct{ kind, csv string }{{"departments", s.DepartmentsCSV()}, {"villages", s.VillagesCSV()}, {"people", s.PeopleCSV()}} {
		if _, err := c.Org.ImportDirectory(ctx, f.kind, f.csv); err != nil {
			return nil, fmt.Errorf("demo: import %s: %w", f.kind, err)
		}
	}
	say("导入名录 Directory imported: %d 个部门 departments, %d 个行政村 villages, %d 名人员 people",
		len(s.Departments), len(s.Villages), len(s.People))

	accounts := []newAccount{{apiclient.Account{Username: "auditor", Roles: grant(baocun.RoleAuditor, baocun.CityJurisdiction)}, func(a *apiclient.Client) { c.Auditor = a }}}
	for _, person := range s.Reviewers {
		accounts = append(accounts, newAccount{apiclient.Account{Username: "reviewer-" + strings.ToLower(person), PersonID: person, Roles: grant(baocun.RoleReviewer, baocun.CityJurisdiction)},
			func(r *apiclient.Client) { c.Reviewers[s.Person(person).DepartmentCode] = r }})
	}
	for _, dp := range s.Departments {
		accounts = append(accounts, newAccount{apiclient.Account{Username: "lead-" + strings.ToLower(dp.Code), PersonID: s.Leads[dp.Code], Roles: grant(baocun.RoleDeptLead, dp.Jurisdiction())},
			func(l *apiclient.Client) { c.Leads[dp.Code] = l }})
		for _, person := range s.Staff[dp.Code] {
			accounts = append(accounts, newAccount{apiclient.Account{Username: "member-" + strings.ToLower(person), PersonID: person, Roles: grant(baocun.RoleTeamMember, dp.Jurisdiction())},
				func(m *apiclient.Client) { c.Members[person] = m }})
		}
	}
	for _, v := range s.Villages[:s.Paired] {
		accounts = append(accounts, newAccount{apiclient.Account{Username: "village-" + strings.ToLower(v.Code), VillageCode: v.Code, Roles: grant(baocun.RoleVillage, v.County)},
			func(a *apiclient.Client) { c.Villages[v.Code] = a }})
	}
	if err := c.create(ctx, anon, password, accounts); err != nil {
		return nil, err
	}
	say("创建并登录账号 Accounts created and signed in: 组织者 organiser 1, 审核人 reviewers %d（分属不同部门 of different departments）, 部门负责人 department leads %d, 工作组成员 team members %d, 村 villages %d, 审计员 auditor 1",
		len(c.Reviewers), len(c.Leads), len(c.Members), len(c.Villages))
	return c, nil
}

// create creates accounts (as admin) and signs each in, a few at a time: each
// costs the server a password hash.
func (c *Cast) create(ctx context.Context, anon *apiclient.Client, password string, accounts []newAccount) error {
	jobs := make(chan newAccount)
	errs := make(chan error, len(accounts))
	var mu sync.Mutex // guards the cast's maps
	var wg sync.WaitGroup
	for range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for a := range jobs {
				a.Password = password
				_, err := c.Admin.CreateUser(ctx, a.Account)
				var signedIn *apiclient.Client
				if err == nil {
					signedIn, err = anon.SignIn(ctx, a.Username, password)
				}
				if err != nil {
					errs <- fmt.Errorf("demo: account %s: %w", a.Username, err)
					continue
				}
				mu.Lock()
				a.signedIn(signedIn)
				mu.Unlock()
			}
		}()
	}
	for _, a := range accounts {
		jobs <- a
	}
	close(jobs)
	wg.Wait()
	close(errs)
	return <-errs // nil when there was none
}
