package baocun

import (
	"fmt"
	"time"
)

// Department levels.
const (
	LevelCity   = "市直"
	LevelCounty = "县直"
)

// Department is a government unit that pairs with villages (包村部门).
type Department struct {
	Code   string `json:"code"`
	Name   string `json:"name"`
	Level  string `json:"level"`  // 市直 or 县直
	County string `json:"county"` // "" for a city-level department
}

// Jurisdiction is where the department belongs: its county, or the whole city.
func (d *Department) Jurisdiction() string {
	if d.County == "" {
		return CityJurisdiction
	}
	return d.County
}

// Person is someone of a department, who may serve on a work team.
type Person struct {
	ID             string `json:"id"`
	Name           string `json:"name"`
	DepartmentCode string `json:"department_code"`
	Title          string `json:"title"`
	Phone          string `json:"phone"`
}

// Village is an administrative village (行政村). Class 1 is advanced, 2 and 3 lagging.
type Village struct {
	Code     string `json:"code"`
	Name     string `json:"name"`
	County   string `json:"county"`
	Township string `json:"township"`
	Class    int    `json:"class"`
	// CollectiveIncomeWan is the collective income in 万元 as an exact decimal.
	CollectiveIncomeWan string `json:"collective_income_wan"`
	Population          int    `json:"population"`
	Households          int    `json:"households"`
	// Lat and Lng are the village's point (its committee's office), for check-ins:
	// both or neither.
	Lat *float64 `json:"lat,omitempty"`
	Lng *float64 `json:"lng,omitempty"`
}

// Row is one row of an imported table and the line it stands on in the file.
type Row struct {
	Line  int
	Cells []string
}

// Table is an imported file: its header row, the line the header stands on, and
// its non-blank rows.
type Table struct {
	HeaderLine int
	Header     []string
	Rows       []Row
}

// RowError says what is wrong with one cell (or row) of an imported file.
type RowError struct {
	Line    int    `json:"line"`
	Column  string `json:"column"`
	Message string `json:"message"`
}

// ImportError rejects a whole file: nothing of it is stored.
type ImportError struct {
	Rows []RowError
}

func (e *ImportError) Error() string {
	if len(e.Rows) == 0 {
		return "import rejected"
	}
	r := e.Rows[0]
	return fmt.Sprintf("import rejected: line %d, column %s: %s (%d problems)", r.Line, r.Column, r.Message, len(e.Rows))
}

// VillageHistory is a village over time: its record as the directory holds it, its
// imported years, and each pairing it had — its class and income at the launch and
// its class after acceptance.
type VillageHistory struct {
	Village  Village          `json:"village"`
	Years    []VillageYear    `json:"years"`
	Pairings []VillagePairing `json:"pairings"`
	Contacts []LeaderContact  `json:"contacts"` // the leaders whose contact village it is
	// Visits are every visit recorded at the village's pairings; CountVisits counts
	// those of the pairings a reader may read into Contacts.
	Visits []VillageVisit `json:"-"`
}

// VillageVisit is one visit recorded at a pairing of the village.
type VillageVisit struct {
	PairingID int64
	Day       string // programme date
	Visitor   string
}

// CountVisits counts into each contact the visits recorded in the leader's name at
// the pairings readable says the reader may read.
func (h *VillageHistory) CountVisits(readable func(pairingID int64) bool) {
	for _, v := range h.Visits {
		if !readable(v.PairingID) {
			continue
		}
		for i := range h.Contacts {
			if c := &h.Contacts[i]; c.Leader == v.Visitor {
				c.Visits++
				c.LastVisit = max(c.LastVisit, v.Day)
			}
		}
	}
}

// VillagePairing is one pairing of a village, as its history shows it.
type VillagePairing struct {
	PairingID         int64  `json:"pairing_id"`
	CycleID           int64  `json:"cycle_id"`
	CycleName         string `json:"cycle_name"`
	Department        string `json:"department_code"`
	Kind              string `json:"kind"`
	Stage             Stage  `json:"stage"`
	ClassAtLaunch     int    `json:"class_at_launch"`
	IncomeAtLaunchWan string `json:"income_at_launch_wan"`
	ClassAfter        *int   `json:"class_after,omitempty"` // confirmed at acceptance
	Grade             string `json:"grade,omitempty"`       // the result's (final, once final)
}

// LeaderContact is a city or county leader's contact village (领导联系点): the
// leader registered to it, and the visits to the village recorded in that leader's
// name (领导走访), counted.
type LeaderContact struct {
	ID           int64     `json:"id"`
	VillageCode  string    `json:"village_code"`
	Leader       string    `json:"leader"`
	Title        string    `json:"title,omitempty"`
	Level        string    `json:"level"` // city | county
	RegisteredBy string    `json:"registered_by"`
	RegisteredAt time.Time `json:"registered_at"`
	Visits       int       `json:"visits"`
	LastVisit    string    `json:"last_visit,omitempty"` // programme date
}

// LeaderContactInput registers a leader's contact village.
type LeaderContactInput struct {
	Leader string `json:"leader"`
	Title  string `json:"title,omitempty"`
	Level  string `json:"level"`
}

// Validate checks a registration.
func (in LeaderContactInput) Validate() error {
	if err := requireText("leader", in.Leader, 50); err != nil {
		return err
	}
	if err := optionalText("title", in.Title, 100); err != nil {
		return err
	}
	if in.Level != "city" && in.Level != "county" {
		return invalidField("level", "须为 city（市领导）或 county（县领导） must be city or county")
	}
	return nil
}
