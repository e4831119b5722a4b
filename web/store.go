package web

import (
	"context"
	"time"

	"baocun"
)

// Store is what the HTTP layer needs of the application database (sqldb.DB), by
// resource.
type Store interface {
	SessionStore
	AccountStore
	DirectoryStore
	LifecycleStore
	FieldStore
	PolicyStore
	NotificationStore
}

// SessionStore signs people in and keeps their tokens.
type SessionStore interface {
	Login(ctx context.Context, a baocun.LoginAttempt) (baocun.LoginResult, error)
	// CreateToken issues a token only while the account's credential epoch is still
	// the one its password was checked against (LoginResult.Epoch), and reports how
	// many of its oldest live tokens it ended to stay within the cap.
	CreateToken(ctx context.Context, userID, epoch int64, kind string, ttl time.Duration) (string, time.Time, int, error)
	UserByToken(ctx context.Context, token, kind string, now time.Time) (*baocun.User, error)
	RevokeToken(ctx context.Context, token string) error
	Sessions(ctx context.Context, username string, now time.Time, cursor string, limit int) ([]baocun.Session, string, error)
}

// AccountStore keeps the accounts.
type AccountStore interface {
	CreateUser(ctx context.Context, nu baocun.NewUser, audit *baocun.AuditEntry) (*baocun.User, error)
	User(ctx context.Context, username string) (*baocun.User, error)
	Users(ctx context.Context, after int64, limit int) ([]baocun.User, error)
	UpdateAccount(ctx context.Context, username string, ch baocun.AccountChange, audit *baocun.AuditEntry) (*baocun.User, int, error)
}

// DirectoryStore keeps the directory: departments, villages, people.
type DirectoryStore interface {
	Department(ctx context.Context, code string) (*baocun.Department, error)
	Village(ctx context.Context, code string) (*baocun.Village, error)
	Person(ctx context.Context, id string) (*baocun.Person, error)
	People(ctx context.Context, department string) ([]baocun.Person, error)
	Departments(ctx context.Context, county, after string, limit int) ([]baocun.Department, error)
	Villages(ctx context.Context, county string, unpaired bool, after string, limit int) ([]baocun.Village, error)
	ImportDepartments(ctx context.Context, ds []baocun.Department, audit *baocun.AuditEntry) error
	ImportVillages(ctx context.Context, vs []baocun.Village, audit *baocun.AuditEntry) error
	ImportVillageYears(ctx context.Context, ys []baocun.VillageYear, lines []int, column string, audit *baocun.AuditEntry) error
	VillageHistory(ctx context.Context, code string) (*baocun.VillageHistory, error)
	AddLeaderContact(ctx context.Context, lc baocun.LeaderContact, audit *baocun.AuditEntry) (*baocun.LeaderContact, error)
	ImportPeople(ctx context.Context, ps []baocun.Person, lines []int, column string, audit *baocun.AuditEntry) error
	LaunchDirectory(ctx context.Context) (baocun.LaunchDirectory, error)
}

// LifecycleStore keeps cycles, pairings, their tasks and timelines, check-ins and
// the commendation: the records the workflows write and the API reads.
type LifecycleStore interface {
	CreateCycle(ctx context.Context, c *baocun.Cycle, ps []baocun.PairingSpec, audit *baocun.AuditEntry) (int64, error)
	Cycle(ctx context.Context, id int64) (*baocun.Cycle, error)
	CycleRecord(ctx context.Context, id int64) (*baocun.Cycle, error)
	Cycles(ctx context.Context, before int64, limit int) ([]baocun.Cycle, error)
	CycleRan(ctx context.Context, id int64) (bool, error)
	Pairings(ctx context.Context, f baocun.PairingFilter) ([]baocun.Pairing, error)
	Pairing(ctx context.Context, id int64) (*baocun.Pairing, error)
	Tasks(ctx context.Context, f baocun.TaskFilter) ([]baocun.Task, error)
	AssignmentStore
	Events(ctx context.Context, pairingID int64) ([]baocun.Event, error)
	ApplyChange(ctx context.Context, ch baocun.Change) error
	Commendation(ctx context.Context, cycleID int64) (*baocun.Commendation, error)
	Eligible(ctx context.Context, cycleID int64, dept string) ([]baocun.Eligible, error)
}

// FieldStore keeps the field records (issue 17): check-ins, their confirmations, and
// leave.
type FieldStore interface {
	AddCheckin(ctx context.Context, c baocun.Checkin, audit *baocun.AuditEntry) error
	Checkins(ctx context.Context, pairingID int64, month string) ([]baocun.Checkin, error)
	ReviewCheckin(ctx context.Context, pairingID int64, in baocun.CheckinReview, by string, audit *baocun.AuditEntry) (baocun.Checkin, error)
	ConfirmMonth(ctx context.Context, pairingID int64, month string, in baocun.MonthConfirmation, by string, dispute baocun.Change, audit *baocun.AuditEntry) (int, error)
	DisputedPeople(ctx context.Context, pairingID int64, month string) ([]string, error)
	AnswerDispute(ctx context.Context, pairingID int64, in baocun.DecisionInput, by, day string, audit *baocun.AuditEntry) error
	MonthConfirmed(ctx context.Context, pairingID int64, month string) (bool, error)
	ServingPairing(ctx context.Context, person string, except int64, pending bool) (*baocun.Pairing, error)
	Proposed(ctx context.Context, pairingID int64) ([]baocun.Member, error)
	RequestLeave(ctx context.Context, l baocun.Leave, audit *baocun.AuditEntry) (baocun.Leave, error)
	Leave(ctx context.Context, pairingID, id int64) (baocun.Leave, error)
	Leaves(ctx context.Context, pairingID int64, status, from, to string) ([]baocun.Leave, error)
	LeaveRun(ctx context.Context, l baocun.Leave) (int, error)
	DecideLeave(ctx context.Context, pairingID, id int64, in baocun.LeaveDecision, by string, audit *baocun.AuditEntry) (baocun.Leave, error)
	WithdrawLeave(ctx context.Context, pairingID, id int64, by string, today func() string, audit *baocun.AuditEntry) (baocun.Leave, error)
	AddSpotCheck(ctx context.Context, sc baocun.SpotCheck, audit *baocun.AuditEntry) (baocun.SpotCheck, error)
	SpotChecks(ctx context.Context, pairingID int64) ([]baocun.SpotCheck, error)
	SpotCheckTally(ctx context.Context, pairingID int64) (checks, unexcused int, err error)
	AddLogEntry(ctx context.Context, e baocun.LogEntry, audit *baocun.AuditEntry) (baocun.LogEntry, error)
	LogEntries(ctx context.Context, pairingID int64, f baocun.LogFilter) ([]baocun.LogEntry, error)
	AddFile(ctx context.Context, f baocun.File, quota int64, audit *baocun.AuditEntry) error
	File(ctx context.Context, id string) (baocun.File, error)
	Files(ctx context.Context, pairingID int64) ([]baocun.File, error)
	FilesSize(ctx context.Context, pairingID int64, uploader string) (int64, error)
	FileKinds(ctx context.Context, fileID string) ([]string, error)

	// The project ledger and the statistics (issue 18).
	AddProject(ctx context.Context, p baocun.Project, audit *baocun.AuditEntry) (*baocun.Project, error)
	StepProject(ctx context.Context, pairingID, id int64, st baocun.ProjectStep, audit *baocun.AuditEntry) (*baocun.Project, error)
	Projects(ctx context.Context, pairingID int64) ([]baocun.Project, error)
	Statistics(ctx context.Context, cycleID int64, by string, now time.Time) (*baocun.Statistics, error)
	DepartmentNames(ctx context.Context) (map[string]string, error)
	PublishBulletin(ctx context.Context, b baocun.BulletinSummary, content []byte, audit *baocun.AuditEntry) (*baocun.BulletinSummary, error)
	Bulletins(ctx context.Context, cycleID int64) ([]baocun.BulletinSummary, error)
	Bulletin(ctx context.Context, cycleID, id int64) (*baocun.BulletinSummary, []byte, error)
	// NotFiles are those of ids that are not files of the pairing, in ids' order.
	NotFiles(ctx context.Context, pairingID int64, ids []string) ([]string, error)
}

// PolicyStore keeps the role grants and the policy's rules.
type PolicyStore interface {
	PolicyRules(ctx context.Context) ([][]string, int64, error)
	GrantRole(ctx context.Context, username string, g baocun.Grant, audit *baocun.AuditEntry) error
	RevokeRole(ctx context.Context, username string, g baocun.Grant, audit *baocun.AuditEntry) error
}

// AssignmentStore keeps who holds a task, delegations, what was done about a task,
// and inspection teams (issue 19).
type AssignmentStore interface {
	Task(ctx context.Context, id string) (*baocun.Task, error)
	CouldTake(ctx context.Context, username, id string) (bool, error)
	HeldBy(ctx context.Context, username string, pairingID int64, id string, kind baocun.TaskKind, now time.Time) (string, error)
	Reassign(ctx context.Context, id, to, by, reason string, audit *baocun.AuditEntry) error
	DelegateTask(ctx context.Context, id, by, to string, until time.Time, reason string, audit *baocun.AuditEntry) (*baocun.Delegation, error)
	Delegate(ctx context.Context, d baocun.Delegation, audit *baocun.AuditEntry) (*baocun.Delegation, error)
	Delegations(ctx context.Context, username string, now time.Time) ([]baocun.Delegation, error)
	RevokeDelegation(ctx context.Context, id int64, by string, audit *baocun.AuditEntry) error
	TaskActions(ctx context.Context, id string) ([]baocun.TaskAction, error)
	NoteTask(ctx context.Context, ids []string, actor, action string, detail map[string]string, audit *baocun.AuditEntry) error
	CreateInspectionTeam(ctx context.Context, in baocun.InspectionTeamInput, by string, audit *baocun.AuditEntry) (*baocun.InspectionTeam, error)
	InspectionTeams(ctx context.Context, cycleID int64) ([]baocun.InspectionTeam, error)
	InspectionTeamCycle(ctx context.Context, teamID int64) (int64, error)
	AssignPairings(ctx context.Context, cycleID, teamID int64, ids []int64, audit *baocun.AuditEntry) (int, []int64, error)
}
