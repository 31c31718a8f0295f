package apps

import (
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"strings"
	"testing"
)

// p8 returns a PEM PKCS#8 key like Apple's .p8 files.
func p8(t *testing.T, key any) string {
	t.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))
}

func TestGenerateMakesAValidAppWithVAPID(t *testing.T) {
	a := Generate("x")
	if err := a.Validate(); err != nil {
		t.Fatal(err)
	}
	pub, err := base64.RawURLEncoding.DecodeString(a.WebPush.VAPIDPublicKey)
	if err != nil || len(pub) != 65 || pub[0] != 4 {
		t.Fatalf("public key %q is not a base64url 65-byte uncompressed point", a.WebPush.VAPIDPublicKey)
	}
	priv, err := base64.RawURLEncoding.DecodeString(a.WebPush.VAPIDPrivateKey)
	if err != nil || len(priv) != 32 {
		t.Fatalf("private key %q", a.WebPush.VAPIDPrivateKey)
	}
	k, _ := ecdh.P256().NewPrivateKey(priv)
	if string(k.PublicKey().Bytes()) != string(pub) {
		t.Fatal("public key is not the private key's")
	}
	if b := Generate("y"); b.WebPush.VAPIDPrivateKey == a.WebPush.VAPIDPrivateKey {
		t.Fatal("VAPID key reused")
	}
	d := Defaults()
	if d.WebPush.VAPIDSubject != "mailto:noreply@pushi.io" || d.WebPush.TTLS != 86400 || !d.Handlers.Enabled ||
		d.Handlers.ClientEvents || d.APN != nil || d.SMTPURL != nil || d.Webhooks == nil || d.AllowPrivateTargets {
		t.Fatalf("defaults %+v", d)
	}
}

func TestSetVAPIDAcceptsPaddingAndRefusesBadScalars(t *testing.T) {
	var p WebPush
	scalar := make([]byte, 32)
	scalar[31] = 7
	if err := p.SetVAPID(base64.URLEncoding.EncodeToString(scalar)); err != nil {
		t.Fatal(err)
	}
	if p.VAPIDPrivateKey != base64.RawURLEncoding.EncodeToString(scalar) || len(p.VAPIDPublicKey) != 87 {
		t.Fatalf("not canonical: %+v", p)
	}
	for _, bad := range []string{"", "not base64!", base64.RawURLEncoding.EncodeToString(make([]byte, 31)), base64.RawURLEncoding.EncodeToString(make([]byte, 32))} {
		if err := p.SetVAPID(bad); err == nil {
			t.Errorf("accepted %q", bad)
		}
	}
}

func TestValidateDeliverySettings(t *testing.T) {
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	ec384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	rsaKey, _ := rsa.GenerateKey(rand.Reader, 1024)
	goodAPN := func() *APN {
		return &APN{TeamID: "ABCDE12345", KeyID: "KEY1234567", KeyP8: p8(t, ec), Topic: "io.pushi.app"}
	}
	smtp := func(s string) *string { return &s }
	other := Generate("o")
	cases := []struct {
		edit func(*App)
		want string // "" = valid
	}{
		{func(a *App) {}, ""},
		{func(a *App) {
			a.Webhooks = []Webhook{{URL: "https://h.example/x", EventTypes: []string{"channel_occupied"}, Filter: &WebhookFilter{ChannelNameStartsWith: "a"}, Headers: map[string]string{"X-A": "1"}}}
		}, ""},
		{func(a *App) { a.Webhooks = []Webhook{{URL: "ftp://h/x"}} }, "webhooks[0].url"},
		{func(a *App) { a.Webhooks = []Webhook{{URL: "/relative"}} }, "webhooks[0].url"},
		{func(a *App) { a.Webhooks = []Webhook{{URL: "http://h", EventTypes: []string{"channel_created"}}} }, "event_types"},
		{func(a *App) {
			a.Webhooks = []Webhook{{URL: "http://h", Headers: map[string]string{"x-pusher-signature": "1"}}}
		}, "cannot be overridden"},
		{func(a *App) { a.Webhooks = []Webhook{{URL: "http://h", Headers: map[string]string{"Bad Header": "1"}}} }, "headers"},
		{func(a *App) { a.WebPush.VAPIDSubject = "noreply@pushi.io" }, "vapid_subject"},
		{func(a *App) { a.WebPush.TTLS = -1 }, "ttl_s"},
		{func(a *App) { a.WebPush.VAPIDPublicKey = other.WebPush.VAPIDPublicKey }, "does not belong"},
		{func(a *App) { a.WebPush.VAPIDPrivateKey = "" }, "needs its vapid_private_key"},
		{func(a *App) { a.WebPush.VAPIDPrivateKey, a.WebPush.VAPIDPublicKey = "", "" }, ""},
		{func(a *App) { a.APN = goodAPN() }, ""},
		{func(a *App) { a.APN = goodAPN(); a.APN.KeyP8 = "" }, "key_p8 is required"},
		{func(a *App) { a.APN = goodAPN(); a.APN.KeyP8 = "garbage" }, "not PEM"},
		{func(a *App) { a.APN = goodAPN(); a.APN.KeyP8 = p8(t, ec384) }, "P-256"},
		{func(a *App) { a.APN = goodAPN(); a.APN.KeyP8 = p8(t, rsaKey) }, "P-256"},
		{func(a *App) { a.APN = goodAPN(); a.APN.TeamID = "x" }, "team_id"},
		{func(a *App) { a.APN = goodAPN(); a.APN.Topic = "" }, "topic"},
		{func(a *App) { a.SMTPURL = smtp("smtps://u:p@mail.example:465?sender=a@b") }, ""},
		{func(a *App) { a.SMTPURL = smtp("") }, "smtp_url"},
		{func(a *App) { a.SMTPURL = smtp("http://mail.example") }, "smtp_url"},
		{func(a *App) { a.SMTPURL = smtp("smtp://") }, "no host"},
	}
	for i, tc := range cases {
		a := Generate("x")
		tc.edit(&a)
		err := a.Validate()
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("case %d: %v", i, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("case %d: error %v, want it to mention %q", i, err, tc.want)
		}
	}
}

func TestViewHidesWriteOnlyFields(t *testing.T) {
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	a := Generate("x")
	a.APN = &APN{TeamID: "ABCDE12345", KeyID: "KEY1234567", KeyP8: p8(t, ec), Topic: "t", Sandbox: true}
	a.PreviousSecret = "old-secret-value"
	raw, err := json.Marshal(a.View())
	if err != nil {
		t.Fatal(err)
	}
	for _, leak := range []string{a.WebPush.VAPIDPrivateKey, "vapid_private_key", "key_p8", "PRIVATE KEY", "old-secret-value"} {
		if strings.Contains(string(raw), leak) {
			t.Fatalf("view leaks %q: %s", leak, raw)
		}
	}
	var view, full map[string]any
	json.Unmarshal(raw, &view)
	stored, _ := json.Marshal(&a)
	json.Unmarshal(stored, &full)
	for k := range full {
		if _, ok := view[k]; !ok {
			t.Errorf("view lacks %q", k)
		}
	}
	if view["secret"] != a.Secret || view["web_push"].(map[string]any)["vapid_public_key"] != a.WebPush.VAPIDPublicKey ||
		view["apn"].(map[string]any)["team_id"] != "ABCDE12345" {
		t.Fatalf("view %s", raw)
	}
	// The storage form keeps them.
	var back App
	if err := json.Unmarshal(stored, &back); err != nil || back.APN.KeyP8 != a.APN.KeyP8 || back.WebPush.VAPIDPrivateKey != a.WebPush.VAPIDPrivateKey {
		t.Fatalf("storage form lost a write-only field: %s", stored)
	}
	a.APN = nil
	if raw, _ := json.Marshal(a.View()); !strings.Contains(string(raw), `"apn":null`) || !strings.Contains(string(raw), `"smtp_url":null`) {
		t.Fatalf("absent apn/smtp_url must be null: %s", raw)
	}
}
