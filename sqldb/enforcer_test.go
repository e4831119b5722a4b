package sqldb_test

import (
	"context"
	"testing"

	"baocun"
	"baocun/policy"
	"baocun/sqldb"
	"baocun/sqldb/sqldbtest"
)

// The policy enforcer's decision cache over the real store, on SQLite and PostgreSQL:
// two instances share the database, each serving alice's allow from its cache; a
// role revoked, a rule removed, a role granted each shows on the very next decision
// of both, and a version read that fails refuses rather than answer from the cache.
func TestEnforcerCacheFollowsTheStore(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, dsn string) {
		ctx := context.Background()
		db := sqldbtest.Open(t, dsn)
		if _, err := db.SeedPolicy(ctx, policy.DefaultRows(), nil); err != nil {
			t.Fatal(err)
		}
		organiser := baocun.Grant{Role: "organiser", Jurisdiction: "*"}
		for _, nu := range []baocun.NewUser{
			{Username: "alice", Roles: []baocun.Grant{organiser, {Role: "auditor", Jurisdiction: "*"}}},
			{Username: "bob", Roles: []baocun.Grant{{Role: "auditor", Jurisdiction: "*"}}},
		} {
			if _, err := db.CreateUser(ctx, nu, nil); err != nil {
				t.Fatal(err)
			}
		}
		var instances []*policy.Enforcer
		for range 2 {
			en, err := policy.New(ctx, db)
			if err != nil {
				t.Fatal(err)
			}
			instances = append(instances, en)
		}
		alice := baocun.AccessRequest{User: "alice", Jurisdiction: "县A", Object: "cycle", Action: "launch"}
		bob := baocun.AccessRequest{User: "bob", Jurisdiction: "县A", Object: "cycle", Action: "launch"}
		expect := func(step string, r baocun.AccessRequest, want bool) {
			t.Helper()
			for n, en := range instances {
				for i := range 3 { // the first may compute; the others come from the cache
					d, err := en.Decide(ctx, r)
					if err != nil {
						t.Fatalf("%s: instance %d, decision %d: %v", step, n, i, err)
					}
					if d.Allowed != want {
						t.Fatalf("%s: instance %d, decision %d: %+v, want allowed=%v", step, n, i, d, want)
					}
				}
			}
		}
		expect("granted", alice, true)
		expect("no role to launch", bob, false)

		if err := db.RevokeRole(ctx, "alice", organiser, nil); err != nil {
			t.Fatal(err)
		}
		expect("role revoked", alice, false)

		if err := db.GrantRole(ctx, "alice", organiser, nil); err != nil {
			t.Fatal(err)
		}
		if err := db.GrantRole(ctx, "bob", organiser, nil); err != nil {
			t.Fatal(err)
		}
		expect("role granted again", alice, true)
		expect("role granted", bob, true)

		// The store has no call that removes a p rule yet: remove it as one would,
		// with the version bump in the same transaction.
		if err := db.InTx(ctx, func(tx *sqldb.Tx) error {
			if _, err := tx.ExecContext(ctx, "DELETE FROM casbin_rule WHERE ptype = 'p' AND v0 = 'organiser' AND v1 = 'cycle' AND v2 = 'launch'"); err != nil {
				return err
			}
			_, err := tx.ExecContext(ctx, "UPDATE settings SET value = CAST(CAST(value AS INTEGER) + 1 AS TEXT) WHERE key = 'policy_version'")
			return err
		}); err != nil {
			t.Fatal(err)
		}
		expect("the rule removed", alice, false)
		expect("the rule removed", bob, false)

		// Fail closed: a canceled request cannot read the version, and gets no
		// decision, though the cache holds one for it.
		if err := db.InTx(ctx, func(tx *sqldb.Tx) error {
			_, err := tx.ExecContext(ctx, "INSERT INTO casbin_rule (ptype, v0, v1, v2, v3, v4) VALUES ('p', 'organiser', 'cycle', 'launch', 'any', 'allow')")
			if err != nil {
				return err
			}
			_, err = tx.ExecContext(ctx, "UPDATE settings SET value = CAST(CAST(value AS INTEGER) + 1 AS TEXT) WHERE key = 'policy_version'")
			return err
		}); err != nil {
			t.Fatal(err)
		}
		expect("the rule restored", alice, true)
		canceled, cancel := context.WithCancel(ctx)
		cancel()
		for n, en := range instances {
			if d, err := en.Decide(canceled, alice); err == nil || d.Allowed {
				t.Fatalf("instance %d, version read canceled: %+v, %v; want an error and no decision", n, d, err)
			}
		}
	})
}
