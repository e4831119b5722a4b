package baocun

import (
	"fmt"
	"math"
	"strings"
	"time"
)

// Field records (issue 17): what a work team does in its village, recorded as it
// happens — check-ins and leave. They are records, not steps: they go straight to
// the database, and the Pairing workflow counts them at each period's end.

// Defaults of a cycle's field rules (CycleSettings).
const (
	DefaultCheckinRadiusM = 3000 // metres from the village's point still "in range"
	DefaultLateDays       = 3    // days a check-in may come late, with a reason and the leader's word
	DefaultLeaveLeadDays  = 3    // days of leave a department lead approves; longer goes to an organiser
)

// CheckinInput is a member's check-in (驻村打卡) for themselves: today unless Date
// names an earlier day (late, with a reason), located when the browser gave a
// position.
type CheckinInput struct {
	Lat       *float64 `json:"lat,omitempty"`
	Lng       *float64 `json:"lng,omitempty"`
	AccuracyM *float64 `json:"accuracy_m,omitempty"`
	Date      string   `json:"date,omitempty"` // programme date YYYY-MM-DD; empty: today
	Reason    string   `json:"reason,omitempty"`
}

// Validate checks the input's own fields; the dates against the cycle's clock are
// the caller's to check.
func (in *CheckinInput) Validate() error {
	if (in.Lat == nil) != (in.Lng == nil) {
		return invalidField("lat", "纬度与经度须同时给出 lat and lng come together")
	}
	if err := checkPosition(in.Lat, in.Lng); err != nil {
		return err
	}
	if a := in.AccuracyM; a != nil && (math.IsNaN(*a) || *a < 0 || *a > 100000) {
		return invalidField("accuracy_m", "定位精度须在 0–100000 米之间 accuracy_m must be 0–100000 metres")
	}
	if a := in.AccuracyM; a != nil && in.Lat == nil {
		return invalidField("accuracy_m", "没有位置就没有精度 accuracy_m comes with lat and lng")
	}
	if in.Date != "" {
		if _, err := ParseDate("date", in.Date); err != nil {
			return err
		}
	}
	if len([]rune(in.Reason)) > 500 {
		return invalidField("reason", "补卡理由最多 500 字 reason is at most 500 characters")
	}
	return nil
}

// checkPosition checks a latitude and longitude given together, or neither.
func checkPosition(lat, lng *float64) error {
	if lat == nil {
		return nil
	}
	if math.IsNaN(*lat) || *lat < -90 || *lat > 90 {
		return invalidField("lat", fmt.Sprintf("纬度须在 -90 到 90 之间 lat must be -90 to 90, not %g", *lat))
	}
	if math.IsNaN(*lng) || *lng < -180 || *lng > 180 {
		return invalidField("lng", fmt.Sprintf("经度须在 -180 到 180 之间 lng must be -180 to 180, not %g", *lng))
	}
	return nil
}

// Check-in statuses: a day on time counts at once; a late one waits for the team
// leader, who confirms or refuses it.
const (
	CheckinOK      = "ok"
	CheckinPending = "pending"
	CheckinRefused = "refused"
)

// The village's monthly word on a member's day.
const (
	VillageConfirmed = "confirmed"
	VillageDisputed  = "disputed"
)

// Checkin is one member's day in the village as recorded.
type Checkin struct {
	PairingID  int64     `json:"pairing_id"`
	PersonID   string    `json:"person_id"`
	Day        string    `json:"date"` // programme date
	RecordedAt time.Time `json:"recorded_at"`
	RecordedBy string    `json:"recorded_by"`
	Lat        *float64  `json:"lat,omitempty"`
	Lng        *float64  `json:"lng,omitempty"`
	AccuracyM  *float64  `json:"accuracy_m,omitempty"`
	// DistanceM is how far the position lay from the village's point, and InRange
	// whether within the cycle's radius: both absent when either is unknown.
	DistanceM   *float64   `json:"distance_m,omitempty"`
	InRange     *bool      `json:"in_range,omitempty"`
	Late        bool       `json:"late"`
	Reason      string     `json:"reason,omitempty"`
	Status      string     `json:"status"` // ok | pending | refused
	ConfirmedBy string     `json:"confirmed_by,omitempty"`
	ConfirmedAt *time.Time `json:"confirmed_at,omitempty"`
	// Village is the village's word for the month: "", confirmed or disputed.
	Village     string `json:"village,omitempty"`
	VillageNote string `json:"village_note,omitempty"`
}

// Counts reports whether the day counts toward the residency rule.
func (c *Checkin) Counts() bool { return c.Status == CheckinOK && c.Village != VillageDisputed }

// CheckinReview is the team leader's word on a late check-in.
type CheckinReview struct {
	PersonID string `json:"person_id"`
	Date     string `json:"date"`
	Accept   bool   `json:"accept"`
	Comment  string `json:"comment,omitempty"`
}

// Validate checks the review's fields.
func (in *CheckinReview) Validate() error {
	if err := requireText("person_id", in.PersonID, 64); err != nil {
		return err
	}
	if _, err := ParseDate("date", in.Date); err != nil {
		return err
	}
	if len([]rune(in.Comment)) > 500 {
		return invalidField("comment", "最多 500 字 at most 500 characters")
	}
	return nil
}

// MonthConfirmation is the village's word on a month of the team's check-ins: every
// day is confirmed but those disputed.
type MonthConfirmation struct {
	Disputes []CheckinDispute `json:"disputes,omitempty"`
}

// CheckinDispute names a member's days the village says they were not there.
type CheckinDispute struct {
	PersonID string   `json:"person_id"`
	Dates    []string `json:"dates"`
	Reason   string   `json:"reason"`
}

// Validate checks the confirmation of month (YYYY-MM).
func (in *MonthConfirmation) Validate(month string) error {
	if len(in.Disputes) > 50 {
		return invalidField("disputes", "最多 50 人 at most 50 people")
	}
	seen := map[string]bool{}
	for i, d := range in.Disputes {
		f := fmt.Sprintf("disputes[%d]", i)
		if err := requireText(f+".person_id", d.PersonID, 64); err != nil {
			return err
		}
		if seen[d.PersonID] {
			return invalidField(f+".person_id", "同一人只能列一次 each person once")
		}
		seen[d.PersonID] = true
		if err := requireText(f+".reason", d.Reason, 500); err != nil {
			return err
		}
		if len(d.Dates) == 0 || len(d.Dates) > 31 {
			return invalidField(f+".dates", "须为 1–31 天 give 1 to 31 dates")
		}
		days := map[string]bool{}
		for j, s := range d.Dates {
			if _, err := ParseDate(fmt.Sprintf("%s.dates[%d]", f, j), s); err != nil {
				return err
			}
			if days[s] {
				return invalidField(fmt.Sprintf("%s.dates[%d]", f, j), fmt.Sprintf("%s 列了两次 %s is named twice", s, s))
			}
			days[s] = true
			if !strings.HasPrefix(s, month+"-") {
				return invalidField(fmt.Sprintf("%s.dates[%d]", f, j), fmt.Sprintf("%s 不在 %s 月 is not in %s", s, month, month))
			}
		}
	}
	return nil
}

// Leave kinds (请假类别).
var LeaveKinds = map[string]string{
	"sick": "病假", "personal": "事假", "annual": "年休假", "official": "公差", "family": "探亲假", "other": "其他",
}

// Leave statuses.
const (
	LeaveRequested = "requested"
	LeaveApproved  = "approved"
	LeaveRefused   = "refused"
	LeaveWithdrawn = "withdrawn" // by the one who asked, before it began
)

// MaxLeaveDays bounds one request: a longer absence is a team change.
const MaxLeaveDays = 31

// LeaveInput is a member's request for leave, for themselves, From to To inclusive
// (programme dates).
type LeaveInput struct {
	From   string   `json:"from"`
	To     string   `json:"to"`
	Kind   string   `json:"kind"`
	Reason string   `json:"reason"`
	Files  []string `json:"files,omitempty"` // a doctor's note, say
}

// Validate checks the request's fields and returns its length in days.
func (in *LeaveInput) Validate() (int, error) {
	from, err := ParseDate("from", in.From)
	if err != nil {
		return 0, err
	}
	to, err := ParseDate("to", in.To)
	if err != nil {
		return 0, err
	}
	if to.Before(from) {
		return 0, invalidField("to", "结束日期早于开始日期 to is before from")
	}
	days := int(to.Sub(from).Hours()/24) + 1
	if days > MaxLeaveDays {
		return 0, invalidField("to", fmt.Sprintf("一次请假最多 %d 天 one request covers at most %d days", MaxLeaveDays, MaxLeaveDays))
	}
	if _, ok := LeaveKinds[in.Kind]; !ok {
		return 0, invalidField("kind", fmt.Sprintf("类别须为 sick|personal|annual|official|family|other, not %q", in.Kind))
	}
	if err := requireText("reason", in.Reason, 500); err != nil {
		return 0, err
	}
	if err := CheckFileIDs(in.Files); err != nil {
		return 0, err
	}
	return days, nil
}

// Leave is a member's leave as recorded.
type Leave struct {
	ID          int64      `json:"id"`
	PairingID   int64      `json:"pairing_id"`
	PersonID    string     `json:"person_id"`
	From        string     `json:"from"`
	To          string     `json:"to"`
	Days        int        `json:"days"`
	Kind        string     `json:"kind"`
	Reason      string     `json:"reason"`
	Status      string     `json:"status"`
	RequestedAt time.Time  `json:"requested_at"`
	RequestedBy string     `json:"requested_by"`
	Files       []string   `json:"files,omitempty"`
	DecidedBy   string     `json:"decided_by,omitempty"`
	DecidedAt   *time.Time `json:"decided_at,omitempty"`
	Comment     string     `json:"comment,omitempty"`
}

// LeaveDecision approves or refuses a request.
type LeaveDecision struct {
	Outcome string `json:"outcome"` // approve | refuse
	Comment string `json:"comment,omitempty"`
}

// Validate checks the decision's fields.
func (in *LeaveDecision) Validate() error {
	if in.Outcome != "approve" && in.Outcome != "refuse" {
		return invalidField("outcome", fmt.Sprintf("须为 approve 或 refuse must be approve or refuse, not %q", in.Outcome))
	}
	if len([]rune(in.Comment)) > 500 {
		return invalidField("comment", "最多 500 字 at most 500 characters")
	}
	return nil
}

// DistanceM is the great-circle distance in metres between two points (haversine,
// on a sphere of the Earth's mean radius: within 0.5 % of the ellipsoid, ample for a
// village's radius).
func DistanceM(lat1, lng1, lat2, lng2 float64) float64 {
	const r = 6371008.8
	rad := math.Pi / 180
	dlat, dlng := (lat2-lat1)*rad, (lng2-lng1)*rad
	a := math.Sin(dlat/2)*math.Sin(dlat/2) + math.Cos(lat1*rad)*math.Cos(lat2*rad)*math.Sin(dlng/2)*math.Sin(dlng/2)
	return 2 * r * math.Asin(math.Min(1, math.Sqrt(a)))
}

// SpotCheckInput records an unannounced on-site check (暗访) of a pairing's team: the
// day, who was there, who was not, and what was found.
type SpotCheckInput struct {
	Date    string   `json:"date"` // programme date
	Present []string `json:"present"`
	Absent  []string `json:"absent"`
	Note    string   `json:"note"`
	Files   []string `json:"files,omitempty"` // evidence files of the pairing (POST /files)
}

// Validate checks the input's fields: each person named once, at least one.
func (in *SpotCheckInput) Validate() error {
	if _, err := ParseDate("date", in.Date); err != nil {
		return err
	}
	if len(in.Present)+len(in.Absent) == 0 {
		return invalidField("absent", "须列出在岗或缺岗人员 name who was present or absent")
	}
	if len(in.Present)+len(in.Absent) > maxTeam {
		return invalidField("absent", fmt.Sprintf("最多 %d 人 at most %d people", maxTeam, maxTeam))
	}
	seen := map[string]bool{}
	for _, list := range []struct {
		field string
		ids   []string
	}{{"present", in.Present}, {"absent", in.Absent}} {
		for i, id := range list.ids {
			f := fmt.Sprintf("%s[%d]", list.field, i)
			if err := requireText(f, id, 64); err != nil {
				return err
			}
			if seen[id] {
				return invalidField(f, fmt.Sprintf("%s 列了两次 %s is named twice", id, id))
			}
			seen[id] = true
		}
	}
	if err := CheckFileIDs(in.Files); err != nil {
		return err
	}
	return requireText("note", in.Note, 2000)
}

// SpotCheck is a spot check as recorded; an absence is excused when approved leave
// covers its day.
type SpotCheck struct {
	ID         int64            `json:"id"`
	PairingID  int64            `json:"pairing_id"`
	Day        string           `json:"date"`
	Note       string           `json:"note"`
	People     []SpotCheckEntry `json:"people"`
	Files      []string         `json:"files,omitempty"`
	RecordedAt time.Time        `json:"recorded_at"`
	RecordedBy string           `json:"recorded_by"`
}

// SpotCheckEntry is one person's finding.
type SpotCheckEntry struct {
	PersonID string `json:"person_id"`
	Present  bool   `json:"present"`
	Excused  bool   `json:"excused,omitempty"`
}

// Unexcused counts the absences found that no approved leave covers.
func (s *SpotCheck) Unexcused() int {
	n := 0
	for _, p := range s.People {
		if !p.Present && !p.Excused {
			n++
		}
	}
	return n
}

// Work log entry kinds (民情日记).
var LogKinds = map[string]string{
	"visit": "入户走访", "issue": "群众反映问题", "action": "办理事项", "meeting": "会议", "other": "其他",
}

// LogInput is a team member's work log entry.
type LogInput struct {
	Date  string   `json:"date"` // programme date; empty: today
	Kind  string   `json:"kind"`
	Goal  string   `json:"goal,omitempty"` // a goal of the plan it serves
	Text  string   `json:"text"`
	Files []string `json:"files,omitempty"`
}

// Validate checks the entry's fields.
func (in *LogInput) Validate() error {
	if in.Date != "" {
		if _, err := ParseDate("date", in.Date); err != nil {
			return err
		}
	}
	if _, ok := LogKinds[in.Kind]; !ok {
		return invalidField("kind", fmt.Sprintf("类别须为 visit|issue|action|meeting|other, not %q", in.Kind))
	}
	if len([]rune(in.Goal)) > 200 {
		return invalidField("goal", "最多 200 字 at most 200 characters")
	}
	if err := CheckFileIDs(in.Files); err != nil {
		return err
	}
	return requireText("text", in.Text, 5000)
}

// LogEntry is a work log entry as recorded.
type LogEntry struct {
	ID         int64     `json:"id"`
	PairingID  int64     `json:"pairing_id"`
	Day        string    `json:"date"`
	Kind       string    `json:"kind"`
	Goal       string    `json:"goal,omitempty"`
	Text       string    `json:"text"`
	Files      []string  `json:"files,omitempty"`
	PersonID   string    `json:"person_id"`
	RecordedAt time.Time `json:"recorded_at"`
	RecordedBy string    `json:"recorded_by"`
}

// LogFilter narrows a pairing's work log: words in the text or goal, a day range
// (inclusive), a page before an id.
type LogFilter struct {
	Q        string
	From, To string
	Before   int64
	Limit    int
}

// MaxFileSize is the default limit of one evidence file (serve --max-file-size).
const MaxFileSize = 20 << 20

// FilesQuota is the default limit of what one person uploads to one pairing, each
// content once (serve --files-quota): three years of a team's photographs, minutes
// and ledgers, with room. Per uploader, so a team filling its own cannot keep an
// inspector's photographs out.
const FilesQuota = 2 << 30

// File is an evidence file as recorded: its content is kept by SHA-256 in the blob
// store, and it belongs to the pairing it was uploaded to.
type File struct {
	ID          string    `json:"id"`
	SHA256      string    `json:"sha256"`
	Size        int64     `json:"size"`
	ContentType string    `json:"content_type"`
	Name        string    `json:"name,omitempty"`
	PairingID   int64     `json:"pairing_id"`
	Thumbnail   bool      `json:"thumbnail,omitempty"`
	ThumbSHA256 string    `json:"-"`
	UploadedBy  string    `json:"uploaded_by"`
	UploadedAt  time.Time `json:"uploaded_at"`
}

// EvidenceTypes are the content types an evidence file may have, as sniffed from
// its first bytes: photographs, PDF, Office documents, plain text.
var EvidenceTypes = map[string]bool{
	"image/jpeg": true, "image/png": true, "image/gif": true, "image/webp": true,
	"application/pdf": true, "text/plain": true, "text/csv": true,
	"application/vnd.openxmlformats-officedocument.wordprocessingml.document":   true,
	"application/vnd.openxmlformats-officedocument.spreadsheetml.sheet":         true,
	"application/vnd.openxmlformats-officedocument.presentationml.presentation": true,
	"application/msword": true, "application/vnd.ms-excel": true, "application/vnd.ms-powerpoint": true,
	"application/x-ole-storage": true, // an older Office file, sniffed as its container
}

// MaxRecordFiles bounds the evidence files one record names.
const MaxRecordFiles = 20

// QuotaReached refuses a file that would take what its uploader has put in a
// pairing past the quota.
func QuotaReached(quota int64) error {
	return &Error{Code: ETOOLARGE, Fields: map[string]string{"file": "quota"},
		Message: fmt.Sprintf("您在本结对上传的佐证材料将超过 %s 的总量上限 Your files in this pairing would pass their quota of %s in all.", sizeText(quota), sizeText(quota))}
}

// sizeText is n bytes in MB, or KB below one MB.
func sizeText(n int64) string {
	if n < 1<<20 {
		return fmt.Sprintf("%d KB", n>>10)
	}
	return fmt.Sprintf("%d MB", n>>20)
}

// NoSuchFile is the refusal of a record naming, in field, a file its pairing does not have.
func NoSuchFile(field string, pairingID int64, id string) error {
	return &Error{Code: EINVALID, Fields: map[string]string{field: "no such file of this pairing"},
		Message: fmt.Sprintf("%s: 本结对没有文件 %s pairing %d has no file %s (upload it first: POST /api/v1/files?pairing=%d)", field, id, pairingID, id, pairingID)}
}

// CheckFileIDs checks a record's list of evidence file ids: at most MaxRecordFiles,
// each once, of the form the service gives them.
func CheckFileIDs(ids []string) error { return checkFileIDs("files", ids) }

// checkFileIDs is CheckFileIDs of the list named field.
func checkFileIDs(field string, ids []string) error {
	if len(ids) > MaxRecordFiles {
		return invalidField(field, fmt.Sprintf("最多 %d 个文件 at most %d files", MaxRecordFiles, MaxRecordFiles))
	}
	seen := map[string]bool{}
	for i, id := range ids {
		if len(id) != 32 || strings.Trim(id, "0123456789abcdef") != "" {
			return invalidField(fmt.Sprintf("%s[%d]", field, i), fmt.Sprintf("不是文件编号 %q is not a file id", id))
		}
		if seen[id] {
			return invalidField(fmt.Sprintf("%s[%d]", field, i), fmt.Sprintf("%s 列了两次 %s is named twice", id, id))
		}
		seen[id] = true
	}
	return nil
}
