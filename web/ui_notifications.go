package web

import (
	"net/url"
	"slices"

	"baocun"
)

// The notifications page: the bell's list (the newest first, each with how its
// email and webhook went) and the user's own contact details and preferences.

// notificationRow is one notification as the page shows it.
type notificationRow struct {
	baocun.Notification
	KindName   [2]string
	Deliveries []deliveryRow
}

type deliveryRow struct {
	baocun.DeliveryState
	ChannelName, StatusName [2]string
}

type notifyKindOption struct {
	Kind  string
	Name  [2]string
	Muted bool
}

var channelNames = map[string][2]string{baocun.ChannelEmail: {"邮件", "Email"}, baocun.ChannelWebhook: {"Webhook", "Webhook"}}

var deliveryStatusNames = map[string][2]string{
	baocun.DeliveryPending: {"待发送", "pending"}, baocun.DeliverySent: {"已发送", "sent"}, baocun.DeliveryDead: {"发送失败", "failed"},
}

var webhookFormatNames = map[string][2]string{
	baocun.WebhookDingTalk: {"钉钉机器人", "DingTalk robot"}, baocun.WebhookWeCom: {"企业微信机器人", "WeCom robot"}, baocun.WebhookJSON: {"通用 JSON", "generic JSON"},
}

func (u *ui) notifications(v *view) (string, any, error) {
	v.Title = [2]string{"通知", "Notifications"}
	q := url.Values{"limit": {"50"}}
	unread := v.c.Query("unread") == "1"
	if unread {
		q.Set("unread", "1")
	}
	if cur := v.c.Query("cursor"); cur != "" {
		q.Set("cursor", cur)
	}
	var p notificationPage
	if err := u.get(v.c, "/notifications?"+q.Encode(), &p); err != nil {
		return "", nil, err
	}
	rows := make([]notificationRow, len(p.Items))
	for i, n := range p.Items {
		rows[i] = notificationRow{Notification: n, KindName: baocun.NotifyKindNames[n.Kind]}
		for _, d := range n.Deliveries {
			rows[i].Deliveries = append(rows[i].Deliveries, deliveryRow{DeliveryState: d, ChannelName: channelNames[d.Channel], StatusName: deliveryStatusNames[d.Status]})
		}
	}
	next := ""
	if p.NextCursor != "" {
		q.Set("cursor", p.NextCursor)
		q.Del("limit")
		next = "/notifications?" + q.Encode()
	}
	var c baocun.Contact
	if err := u.get(v.c, "/users/"+url.PathEscape(v.User.Username)+"/contact", &c); err != nil {
		return "", nil, err
	}
	var kinds []notifyKindOption
	for _, k := range baocun.NotifyKinds {
		kinds = append(kinds, notifyKindOption{Kind: k, Name: baocun.NotifyKindNames[k], Muted: slices.Contains(c.Mute, k)})
	}
	var formats []notifyKindOption
	for _, f := range baocun.WebhookFormats {
		formats = append(formats, notifyKindOption{Kind: f, Name: webhookFormatNames[f], Muted: f == c.WebhookFormat})
	}
	return "notifications", map[string]any{"Items": rows, "Unread": p.Unread, "OnlyUnread": unread, "Next": next,
		"Contact": c, "Kinds": kinds, "Formats": formats}, nil
}
