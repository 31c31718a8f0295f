package apps

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestParseAppsDefaultsAndMerge(t *testing.T) {
	list, err := ParseApps([]byte(`{"apps":[{"id":"1","key":"k","secret":"s","client_events":true,"limits":{"client_event_rate":3}}]}`))
	if err != nil {
		t.Fatal(err)
	}
	a := list[0]
	if !a.Enabled || !a.ClientEvents || a.CacheTTLS != 1800 || a.Limits.ClientEventRate != 3 || a.Limits.MaxEventBytes != 10240 || a.Name != "1" {
		t.Fatalf("defaults not merged: %+v", a)
	}
	if _, err := ParseApps([]byte(`[{"id":"2","key":"k2","secret":"s"}]`)); err != nil {
		t.Fatalf("bare array: %v", err)
	}
}

func TestParseAppsRefusesTyposAndBadValues(t *testing.T) {
	for _, doc := range []string{
		`{"apps":[{"id":"1","key":"k","secret":"s","clientevents":true}]}`,
		`{"apps":[{"id":"1","key":"k","secret":"s","limits":{"max_evnt_bytes":1}}]}`,
		`{"aps":[]}`,
		`{"apps":[{"id":"1","key":"k","secret":"s","enabled":"yes"}]}`,
	} {
		if _, err := ParseApps([]byte(doc)); err == nil {
			t.Errorf("accepted %s", doc)
		}
	}
	for _, a := range []App{
		{ID: "bad id", Key: "k", Secret: "s"},
		{ID: "1", Key: "k/x", Secret: "s"},
		{ID: "1", Key: "k", Secret: ""},
	} {
		a.Limits, a.UserAuthTimeoutS, a.CacheTTLS = DefaultLimits(), 30, 1800
		if err := a.Validate(); err == nil {
			t.Errorf("valid: %+v", a)
		}
	}
	bad := Defaults()
	bad.ID, bad.Key, bad.Secret = "1", "k", "s"
	bad.Limits.MaxEventBytes = 0
	if err := bad.Validate(); err == nil || !strings.Contains(err.Error(), "max_event_bytes") {
		t.Errorf("zero limit: %v", err)
	}
}

func TestRegistry(t *testing.T) {
	a, b := Generate("a"), Generate("b")
	if len(a.ID) != 9 || len(a.Key) != 20 || len(a.Secret) != 64 || a.ID == b.ID {
		t.Fatalf("generated %+v", a)
	}
	r, err := NewWritable([]App{a, b})
	if err != nil {
		t.Fatal(err)
	}
	if r.ByKey(a.Key).ID != a.ID || r.ByID(b.ID).Key != b.Key || r.ByKey("nope") != nil {
		t.Fatal("lookups")
	}
	if _, err := NewStatic([]App{a, a}); err == nil {
		t.Fatal("duplicate id accepted")
	}
	c := b
	c.ID = "123"
	if _, err := NewStatic([]App{b, c}); err == nil {
		t.Fatal("duplicate key accepted")
	}
	changed := a
	changed.Key = "other"
	if err := r.Put(changed); err == nil {
		t.Fatal("key change accepted")
	}
}

func TestSecretsDuringRotation(t *testing.T) {
	a := Defaults()
	a.Secret, a.PreviousSecret = "new", "old"
	now := time.Now()
	a.PreviousValidUntil = now.Add(time.Hour)
	if got := a.Secrets(now); len(got) != 2 || got[0] != "new" {
		t.Fatalf("in grace: %v", got)
	}
	if got := a.Secrets(now.Add(2 * time.Hour)); len(got) != 1 {
		t.Fatalf("after grace: %v", got)
	}
}

func TestOriginAllowed(t *testing.T) {
	a := Defaults()
	if !a.OriginAllowed("https://x") {
		t.Fatal("empty list must allow all")
	}
	a.AllowedOrigins = []string{"https://good"}
	if a.OriginAllowed("https://evil") || !a.OriginAllowed("https://good") {
		t.Fatal("allow-list")
	}
}

func TestRegistryDeleteAndReplace(t *testing.T) {
	a, b := Generate("a"), Generate("b")
	r, err := NewWritable([]App{a, b})
	if err != nil {
		t.Fatal(err)
	}
	old := r.ByID(a.ID)
	changed := a
	changed.Enabled = false
	if err := r.Put(changed); err != nil {
		t.Fatal(err)
	}
	if r.ByID(a.ID).Enabled || r.ByKey(a.Key).Enabled || r.ByID(a.ID) != r.ByKey(a.Key) {
		t.Fatal("replacement not visible by id and key alike")
	}
	if !old.Enabled {
		t.Fatal("the replaced value was mutated; readers holding it must keep a consistent app")
	}
	if !r.Delete(a.ID) || r.ByID(a.ID) != nil || r.ByKey(a.Key) != nil || len(r.All()) != 1 {
		t.Fatal("delete")
	}
	if r.Delete(a.ID) {
		t.Fatal("second delete reported a removal")
	}
	if err := r.Put(a); err != nil || r.ByKey(a.Key) == nil {
		t.Fatalf("re-add after delete: %v", err)
	}
	var empty Writable
	if empty.ByID("x") != nil || empty.Put(b) != nil || empty.ByKey(b.Key) == nil {
		t.Fatal("zero Writable must work as an empty registry")
	}
}

func TestParseAppsDeliverySettings(t *testing.T) {
	priv, pub, err := GenerateVAPID()
	if err != nil {
		t.Fatal(err)
	}
	list, err := ParseApps([]byte(`[{"id":"1","key":"k","secret":"s","web_push":{"vapid_private_key":"` + priv + `","ttl_s":60},
		"webhooks":[{"url":"https://h.example/w","event_types":["member_added"]}],"allow_private_targets":true,"smtp_url":"smtp://mail.example"}]`))
	if err != nil {
		t.Fatal(err)
	}
	a := list[0]
	if err := a.Validate(); err != nil {
		t.Fatal(err)
	}
	if a.WebPush.VAPIDPublicKey != pub || a.WebPush.TTLS != 60 || a.WebPush.VAPIDSubject != "mailto:noreply@pushi.io" ||
		a.Webhooks[0].EventTypes[0] != "member_added" || *a.SMTPURL != "smtp://mail.example" || !a.Handlers.Enabled || !a.AllowPrivateTargets {
		t.Fatalf("parsed %+v", a)
	}
	if v, _ := json.Marshal(a.View()); !strings.Contains(string(v), `"allow_private_targets":true`) {
		t.Fatalf("the view does not show allow_private_targets: %s", v)
	}
	list, _ = ParseApps([]byte(`[{"id":"1","key":"k","secret":"s","web_push":{"vapid_private_key":"bad"}}]`))
	if err := list[0].Validate(); err == nil || !strings.Contains(err.Error(), "vapid_private_key") {
		t.Fatalf("bad private key: %v", err)
	}
}

// Static is the read side: nothing that holds one can change it. A write
// method added to it would make every reader a possible writer again.
func TestStaticIsReadOnly(t *testing.T) {
	typ := reflect.TypeFor[*Static]()
	var got []string
	for m := range typ.Methods() {
		got = append(got, m.Name)
	}
	if fmt.Sprint(got) != "[All ByID ByKey]" {
		t.Fatalf("*Static methods %v, want [All ByID ByKey]: writes belong to Writable", got)
	}
	var zero Static
	if zero.ByID("x") != nil || zero.ByKey("x") != nil || len(zero.All()) != 0 {
		t.Fatal("zero Static must work as an empty registry")
	}
}
