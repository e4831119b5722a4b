package main

import (
	"bufio"
	"context"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"baocun"
	"baocun/notify/notifytest"
	"baocun/sqldb/sqldbtest"
)

// metricValue reads one sample of the service's /metrics (0 when absent).
func metricValue(t *testing.T, base, sample string) float64 {
	t.Helper()
	resp, err := http.Get(base + "metrics")
	if err != nil {
		return 0
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), sample+" "); ok {
			f, _ := strconv.ParseFloat(v, 64)
			return f
		}
	}
	return 0
}

// await polls cond until it holds, failing after d.
func await(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s", what, d)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// A launch opens the department's nomination task; its lead's email and webhook
// fail (the mail server refuses, the receiver answers 500) and are retried; serve
// is killed (SIGKILL) with them pending; the servers take them again; serve
// restarts on the same data dir and sends them: the email over STARTTLS with AUTH,
// the webhook in DingTalk's format. The bell holds the notification once.
func TestNotificationsSurviveSIGKILL(t *testing.T) {
	if testing.Short() {
		t.Skip("the full run's (serve killed and restarted): go test ./...")
	}
	t.Run("sqlite", func(t *testing.T) { notificationsSurviveSIGKILL(t) })
	t.Run("postgres", func(t *testing.T) { notificationsSurviveSIGKILL(t, "--database", sqldbtest.PostgresDSN(t)) })
}

func notificationsSurviveSIGKILL(t *testing.T, extra ...string) {
	mail := notifytest.StartMail(t, true)
	hooks := notifytest.StartHooks(t)
	mail.Refuse(true)
	hooks.Fail(-1)
	ca := filepath.Join(t.TempDir(), "smtp-ca.pem")
	if err := os.WriteFile(ca, mail.CAPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	args := []string{"--data-dir", t.TempDir(), "--http", "127.0.0.1:0", "--temporal-port", "0",
		"--smtp-addr", mail.Addr, "--smtp-from", "部门包村 <noreply@example.gov.cn>", "--smtp-username", notifytest.User, "--smtp-ca", ca,
		"--webhook-hosts", hooks.Host(), "--notify-interval", "100ms", "--notify-backoff", "200ms", "--public-url", "https://baocun.example.gov.cn/"}
	args = append(args, extra...)
	env := []string{EnvAdminPassword + "=" + faultPassword, EnvSMTPPassword + "=" + notifytest.Password}
	p := startServeEnv(t, env, args...)
	p.waitReady(t)
	r := newRoles(t, p.url, 5)
	lead := r.leads[r.sample.Villages[0].Department] // whose department the launch pairs
	ctx := context.Background()
	address := lead.Username() + "@example.gov.cn"
	if _, err := lead.PutContact(ctx, lead.Username(), baocun.Contact{Email: address, EmailEnabled: true,
		WebhookURL: hooks.URL + "/dingtalk?access_token=robot-key", WebhookFormat: baocun.WebhookDingTalk, WebhookEnabled: true}); err != nil {
		t.Fatal(err)
	}
	r.launch(t, 1)
	await(t, 60*time.Second, "the nomination's notification", func() bool {
		np, err := lead.Notifications(ctx, nil)
		return err == nil && len(np.Items) == 1 && len(np.Items[0].Deliveries) == 2
	})
	await(t, 60*time.Second, "failed attempts", func() bool {
		return metricValue(t, p.url, `baocun_notifications_failed_total{channel="email"}`) >= 1 &&
			metricValue(t, p.url, `baocun_notifications_failed_total{channel="webhook"}`) >= 1
	})
	p.kill()
	if n := len(mail.Received()); n != 0 {
		t.Fatalf("%d emails before the kill", n)
	}
	mail.Refuse(false)
	hooks.Fail(0)

	p = startServeEnv(t, env, args...)
	p.waitReady(t)
	lead = lead.At(p.url)
	await(t, 90*time.Second, "the email and the webhook after the restart", func() bool {
		return len(mail.Received()) > 0 && len(hooks.Posts("/dingtalk")) > 0
	})
	m := mail.Received()[0]
	if len(m.To) != 1 || m.To[0] != address || !m.TLS || !strings.Contains(m.Subject(), "New task: Nominate the team") ||
		!strings.Contains(m.Body, "https://baocun.example.gov.cn/pairings/") {
		t.Fatalf("email: to %v, tls %v, subject %q, body %q", m.To, m.TLS, m.Subject(), m.Body)
	}
	text := hooks.Posts("/dingtalk")[0]["text"].(map[string]any)["content"].(string)
	if !strings.Contains(text, "新待办：提名工作组") {
		t.Fatalf("webhook: %q", text)
	}
	await(t, 30*time.Second, "both deliveries marked sent", func() bool {
		np, err := lead.Notifications(ctx, url.Values{"unread": {"1"}})
		if err != nil || len(np.Items) != 1 {
			return false
		}
		for _, d := range np.Items[0].Deliveries {
			if d.Status != baocun.DeliverySent {
				return false
			}
		}
		return true
	})
	if np, _ := lead.Notifications(ctx, nil); len(np.Items) != 1 || np.Unread != 1 {
		t.Fatalf("the bell after the restart: %+v", np)
	}
	p.stop(t)
}

// The notification flags are checked before anything is touched.
func TestServeNotifyBadInput(t *testing.T) {
	for _, tt := range []badInput{
		{name: "--smtp-addr without --smtp-from", code: 2, want: []string{"--smtp-from"},
			args: func(dir string) []string {
				return []string{"--data-dir", dir, "--smtp-addr", "mail.example.gov.cn:587"}
			}},
		{name: "--smtp-from without --smtp-addr", code: 2, want: []string{"need --smtp-addr"},
			args: func(dir string) []string { return []string{"--data-dir", dir, "--smtp-from", "a@example.gov.cn"} }},
		{name: "a From that is no address", code: 2, want: []string{"smtp from", "not an email address"},
			args: func(dir string) []string {
				return []string{"--data-dir", dir, "--smtp-addr", "mail.example.gov.cn:587", "--smtp-from", "noreply"}
			}},
		{name: "a password in clear off loopback", code: 2, want: []string{"never sent in clear"},
			args: func(dir string) []string {
				return []string{"--data-dir", dir, "--smtp-addr", "mail.example.gov.cn:25", "--smtp-from", "a@example.gov.cn", "--smtp-username", "u", "--smtp-insecure"}
			}},
		{name: "a webhook host list entry of another scheme", code: 2, want: []string{"--webhook-hosts", "ftp://files.example"},
			args: func(dir string) []string {
				return []string{"--data-dir", dir, "--webhook-hosts", "ftp://files.example"}
			}},
		{name: "--notify-interval of nothing", code: 2, want: []string{"--notify-interval"},
			args: func(dir string) []string { return []string{"--data-dir", dir, "--notify-interval", "0s"} }},
		{name: "--public-url that is no address", code: 2, want: []string{"--public-url"},
			args: func(dir string) []string { return []string{"--data-dir", dir, "--public-url", "baocun.example.gov.cn"} }},
	} {
		t.Run(tt.name, func(t *testing.T) { checkBadInput(t, tt) })
	}
}
