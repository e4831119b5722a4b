package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// `baocun demo` runs a whole compressed cycle as a real process and ends with every
// pairing's acceptance scored, confirmed and published, every scripted event played and the audit chain verified;
// its temporary data dir is removed afterwards.
func TestDemo(t *testing.T) {
	if testing.Short() {
		t.Skip("the demo takes about 45 s")
	}
	if raceDetector {
		// The demo runs three programme years on a wall clock: under -race, several
		// times slower, its players miss their windows. .ci/run runs it without -race.
		t.Skip("timing-driven: run without -race (.ci/run does)")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "demo", "--minutes", "1")
	cmd.Env = append(os.Environ(), "BAOCUN_TEST_AS_MAIN=1")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	err := cmd.Run()
	t.Logf("demo ran %s:\n%s", time.Since(start).Round(time.Millisecond), stdout.String())
	if err != nil {
		t.Fatalf("demo: %v\nstderr:\n%s", err, stderr.String())
	}
	out := stdout.String()
	for _, want := range []string{
		"全部 10 个结对验收结果经公示已成定论，本轮已结束 All 10 pairings' results are final after publicity; the cycle is closed.",
		"各阶段 Stages: 已结束 closed 10\n",
		"退回工作组提名 Team nomination returned:",
		"重新提名后获批 Team approved when nominated again:",
		"汇报退回 Report returned:",
		"修改后通过 Reworked report approved:",
		"申请调整工作组 Team change requested:",
		"工作组调整获批 Team change approved:",
		"逾期升级 Escalated to the organisers:",
		"升级后办结 Done after escalation:",
		"驻村不足提示 Residency flag:",
		"the expected skipped month flagged: 1",
		"领导走访 Leader's visit:",
		"请假 Leave asked:",
		"请假获批 Leave approved by the department lead:",
		"民情日记 Work log:",
		"第 3 年双评完成 Year 3 evaluations done: 10/10",
		"年度双评 Yearly evaluations: 第 1 年 year 1: 10/10, 第 2 年 year 2: 10/10, 第 3 年 year 3: 10/10",
		"验收结果 Acceptance results",
		"部门排名 Departments ranked",
		"客观指标 Objective inputs: 通过汇报 approved reports 1", // 10 pairings × 12 periods: 1xx
		"申诉 Appeal:",
		"申诉裁决：改判 Appeal decided, revised:",
		"公示申诉 Appeals: 1 件申诉 filed, 1 件已裁决 decided",
		"推荐优秀包村干部 Excellent cadres proposed:",
		"表彰名单审批通过并公布 Commendation list approved and published",
		"表彰名单 Commendation list（",
		"优秀包村干部 Excellent cadre:",
		"导出 Exports:",
		"公示 Publicity: 10 个结果",
		"通报 Bulletin 20",
		"驻村达标率 residency compliance",
		"批量审批 Bulk decisions: ",
		": 200 已通过 approved\n",
		"改派 Reassigned: ",
		"外出代理 Delegation while away: ",
		"代理办结 Done by the delegate: ",
		"撤销代理 Delegation revoked: ",
		"审计校验通过 Audit verification: ok",
		"演示完成 Demo complete",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("the output lacks %q", want)
		}
	}
	if strings.Contains(out, "问题 Problem") {
		t.Errorf("the demo reported problems")
	}
	// Progress is dated in programme time, period by period.
	if n := len(regexp.MustCompile(`(?m)^\[\d{4}-\d\d-\d\d\] 第 \d+/12 期开始`).FindAllString(out, -1)); n != 12 {
		t.Errorf("%d period lines, want 12", n)
	}
	m := regexp.MustCompile(`数据目录 data dir (\S+),`).FindStringSubmatch(out)
	if m == nil {
		t.Fatal("the output does not name the data dir")
	}
	if _, err := os.Stat(m[1]); !os.IsNotExist(err) {
		t.Errorf("the temporary data dir %s is still there (%v)", m[1], err)
	}
}

// Bad demo flags are usage errors, and a data dir that holds a database already is
// refused before anything starts.
func TestDemoRefusesBadInput(t *testing.T) {
	used := t.TempDir()
	if err := os.WriteFile(filepath.Join(used, "baocun.db"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"--villages", "3"}, "--villages 3"},
		{[]string{"--villages", "21"}, "--villages 21"},
		{[]string{"--minutes", "0.5"}, "--minutes 0.5"},
		{[]string{"--data-dir", used}, "already holds baocun.db"},
		{[]string{"extra"}, "unexpected argument"},
	} {
		var out bytes.Buffer
		err := run(context.Background(), append([]string{"baocun", "demo"}, tt.args...), func(string) string { return "" }, &out, &out)
		if err == nil || !strings.Contains(err.Error(), tt.want) || exitCode(err) != 2 {
			t.Errorf("demo %v: err = %v (exit %d), want a usage error naming %q", tt.args, err, exitCode(err), tt.want)
		}
	}
}
