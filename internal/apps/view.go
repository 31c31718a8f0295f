package apps

// View is an app as the management API shows it: every setting and the
// current secret (the API is admin-only), without the write-only fields.
// The shadowing fields below hide web_push.vapid_private_key and
// apn.key_p8; a new write-only field must be hidden here too (view_test
// checks that no known one leaks).
type View struct {
	*App
	WebPush webPushView `json:"web_push"`
	APN     *apnView    `json:"apn"`
}

type webPushView struct {
	VAPIDPublicKey string `json:"vapid_public_key"`
	VAPIDSubject   string `json:"vapid_subject"`
	TTLS           int    `json:"ttl_s"`
}

type apnView struct {
	TeamID  string `json:"team_id"`
	KeyID   string `json:"key_id"`
	Topic   string `json:"topic"`
	Sandbox bool   `json:"sandbox"`
}

// View returns the app's API representation.
func (a *App) View() View {
	v := View{App: a, WebPush: webPushView{a.WebPush.VAPIDPublicKey, a.WebPush.VAPIDSubject, a.WebPush.TTLS}}
	if a.APN != nil {
		v.APN = &apnView{a.APN.TeamID, a.APN.KeyID, a.APN.Topic, a.APN.Sandbox}
	}
	return v
}
