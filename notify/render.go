package notify

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"baocun"
)

// message is what an outbox row says, the same to everyone it reaches: Chinese
// first, English beside it.
type message struct {
	Title, Body, Link string
	TaskID            string
	PairingID         int64
}

var gradeNames = map[string][2]string{
	baocun.GradeExcellent: {"优秀", "excellent"}, baocun.GradeGood: {"良好", "good"},
	baocun.GradePass: {"合格", "pass"}, baocun.GradeFail: {"不合格", "fail"},
}

// submissions name what a decision event decided.
var submissions = map[string][2]string{
	"plan": {"村级发展规划", "plan"}, "report": {"定期汇报", "report"}, "team": {"工作组提名", "team nomination"},
	"team_change": {"工作组调整申请", "team change request"}, "appeal": {"申诉", "appeal"},
}

// render says what outbox row o tells people.
func (d *Dispatcher) render(ctx context.Context, o baocun.OutboxItem) (message, error) {
	switch o.Kind {
	case baocun.NotifyTaskOpened, baocun.NotifyTaskReminded, baocun.NotifyTaskEscalated:
		return d.renderTask(ctx, o)
	case baocun.NotifyDecision:
		return d.renderDecision(ctx, o)
	case baocun.NotifyPublicity:
		return d.renderPublicity(ctx, o)
	}
	return message{}, fmt.Errorf("outbox %d: unknown kind %q", o.ID, o.Kind)
}

// where names a pairing as its village and department, "" when it cannot be read.
func (d *Dispatcher) where(ctx context.Context, pairing int64) (string, error) {
	if pairing == 0 {
		return "", nil
	}
	p, err := d.DB.Pairing(ctx, pairing)
	if baocun.ErrorCode(err) == baocun.ENOTFOUND {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("%s（%s）", p.VillageName, p.DepartmentName), nil
}

func (d *Dispatcher) renderTask(ctx context.Context, o baocun.OutboxItem) (message, error) {
	t, err := d.DB.Task(ctx, o.TaskID)
	if err != nil {
		return message{}, err
	}
	name := baocun.TaskKindNames[t.Kind]
	if name[0] == "" {
		name = [2]string{string(t.Kind), string(t.Kind)}
	}
	m := message{TaskID: t.ID, PairingID: t.PairingID, Link: "/inbox"}
	switch o.Kind {
	case baocun.NotifyTaskOpened:
		m.Title = fmt.Sprintf("新待办：%s New task: %s", name[0], name[1])
	case baocun.NotifyTaskReminded:
		m.Title = fmt.Sprintf("待办即将到期：%s Due soon: %s", name[0], name[1])
	case baocun.NotifyTaskEscalated:
		m.Title = fmt.Sprintf("待办已逾期，已上报组织部门：%s Overdue, escalated to the organisers: %s", name[0], name[1])
	}
	var lines []string
	if t.PairingID != 0 {
		m.Link = fmt.Sprintf("/pairings/%d", t.PairingID)
		w, err := d.where(ctx, t.PairingID)
		if err != nil {
			return message{}, err
		}
		if w != "" {
			lines = append(lines, w)
		}
	} else if c, err := d.DB.CycleRecord(ctx, t.CycleID); err == nil {
		lines = append(lines, c.Name)
	}
	if t.Subject != "" {
		lines = append(lines, t.Subject)
	}
	lines = append(lines, fmt.Sprintf("截止日期 Due: %s", t.DueDate))
	if o.Kind == baocun.NotifyTaskReminded && o.Actor != "" && o.Actor != "system" {
		lines = append(lines, fmt.Sprintf("由 %s 提醒 Reminded by %s", o.Actor, o.Actor))
	}
	var v struct {
		Note string `json:"note"`
	}
	if json.Unmarshal(o.Data, &v) == nil && v.Note != "" { // a reminder's or escalation's words, by hand
		lines = append(lines, "留言 Note: "+v.Note)
	}
	m.Body = strings.Join(lines, "\n")
	return m, nil
}

func (d *Dispatcher) renderDecision(ctx context.Context, o baocun.OutboxItem) (message, error) {
	var v struct {
		Event   string `json:"event"`
		Period  int    `json:"period"`
		Outcome string `json:"outcome"`
		Comment string `json:"comment"`
	}
	json.Unmarshal(o.Data, &v)
	what, verdict, _ := strings.Cut(v.Event, ".")
	name := submissions[what]
	if name[0] == "" {
		name = [2]string{what, what}
	}
	if what == "report" && v.Period > 0 {
		name = [2]string{fmt.Sprintf("第 %d 期汇报", v.Period), fmt.Sprintf("report of period %d", v.Period)}
	}
	out := map[string][2]string{"approved": {"已通过", "was approved"}, "returned": {"已退回，请修改后重新提交", "was returned: change it and send it again"}}[verdict]
	if what == "appeal" {
		out = map[string][2]string{baocun.AppealUphold: {"已裁决：维持原结果", "was decided: the result stands"},
			baocun.AppealRevise: {"已裁决：改判", "was decided: the result is revised"}}[v.Outcome]
	}
	if out[0] == "" {
		out = [2]string{"已处理", "was decided"}
	}
	m := message{Title: fmt.Sprintf("您提交的%s%s Your %s %s", name[0], out[0], name[1], out[1]),
		TaskID: o.TaskID, PairingID: o.PairingID, Link: fmt.Sprintf("/pairings/%d", o.PairingID)}
	w, err := d.where(ctx, o.PairingID)
	if err != nil {
		return message{}, err
	}
	lines := []string{w}
	if o.Actor != "" && o.Actor != "system" {
		lines = append(lines, fmt.Sprintf("审核人 Decided by: %s", o.Actor))
	}
	if v.Comment != "" {
		lines = append(lines, "意见 Comment: "+v.Comment)
	}
	m.Body = strings.TrimSpace(strings.Join(lines, "\n"))
	return m, nil
}

func (d *Dispatcher) renderPublicity(ctx context.Context, o baocun.OutboxItem) (message, error) {
	if o.PairingID == 0 {
		name := fmt.Sprintf("第 %d 轮", o.CycleID)
		if c, err := d.DB.CycleRecord(ctx, o.CycleID); err == nil {
			name = c.Name
		}
		return message{Title: fmt.Sprintf("表彰名单已公布：%s The commendation list is published: %s", name, name),
			Body: "先进单位和优秀包村干部名单已公示，请查看。 The advanced departments and excellent cadres are published.",
			Link: fmt.Sprintf("/cycles/%d/results", o.CycleID)}, nil
	}
	var v struct {
		Total         json.RawMessage `json:"total"`
		Grade         string          `json:"grade"`
		PublicityEnds string          `json:"publicity_ends"`
		AppealBy      string          `json:"appeal_by"`
	}
	json.Unmarshal(o.Data, &v)
	w, err := d.where(ctx, o.PairingID)
	if err != nil {
		return message{}, err
	}
	g := gradeNames[v.Grade]
	if g[0] == "" {
		g = [2]string{v.Grade, v.Grade}
	}
	total := strings.Trim(string(v.Total), `"`)
	lines := []string{w, fmt.Sprintf("总分 Total: %s；等次 Grade: %s %s", total, g[0], g[1])}
	if v.PublicityEnds != "" {
		lines = append(lines, fmt.Sprintf("公示至 Publicity until: %s；申诉截止 Appeals by: %s", v.PublicityEnds, v.AppealBy))
	}
	return message{Title: "验收结果开始公示 The acceptance result is published", Body: strings.Join(lines, "\n"),
		PairingID: o.PairingID, Link: fmt.Sprintf("/pairings/%d", o.PairingID)}, nil
}

// text is a delivery's plain text: the title, the body and the link (absolute when
// the dispatcher knows the service's address).
func (d *Dispatcher) text(del baocun.Delivery) string {
	var b strings.Builder
	b.WriteString(del.Title)
	if del.Body != "" {
		b.WriteString("\n")
		b.WriteString(del.Body)
	}
	if l := d.link(del.Link); l != "" {
		b.WriteString("\n")
		b.WriteString(l)
	}
	return b.String()
}

// link is a page's address for a message sent away: absolute under BaseURL, or
// none without it.
func (d *Dispatcher) link(path string) string {
	if path == "" || d.BaseURL == "" {
		return ""
	}
	return strings.TrimSuffix(d.BaseURL, "/") + path
}

// digestText lists a digest's notifications, oldest first.
func (d *Dispatcher) digestText(ds []baocun.Delivery) (string, string) {
	title := fmt.Sprintf("每日汇总：%d 条通知 Daily digest: %d notifications", len(ds), len(ds))
	var b strings.Builder
	for i, del := range ds {
		fmt.Fprintf(&b, "%d. [%s] %s\n", i+1, del.At.In(baocun.ChinaTime).Format("2006-01-02 15:04"), del.Title)
		for _, line := range strings.Split(del.Body, "\n") {
			if line != "" {
				b.WriteString("   " + line + "\n")
			}
		}
		if l := d.link(del.Link); l != "" {
			b.WriteString("   " + l + "\n")
		}
		b.WriteString("\n")
	}
	return title, strings.TrimRight(b.String(), "\n")
}

// footer ends every email.
func (d *Dispatcher) footer() string {
	s := "—\n此邮件由部门包村系统发送，请勿回复。 Sent by Baocun; please do not reply."
	if l := d.link("/notifications"); l != "" {
		s += "\n通知设置 Notification settings: " + l
	}
	return s
}

// nextDigest is the digest time after now: DigestHour o'clock, China time.
func (d *Dispatcher) nextDigest(now time.Time) time.Time {
	t := now.In(baocun.ChinaTime)
	at := time.Date(t.Year(), t.Month(), t.Day(), d.DigestHour, 0, 0, 0, baocun.ChinaTime)
	if !at.After(t) {
		at = at.AddDate(0, 0, 1)
	}
	return at
}
