package api

import (
	"encoding/json"
	"io"
	"log/slog"
	"strings"
	"testing"

	"github.com/pushi-io/pushi/internal/apps"
	"github.com/pushi-io/pushi/internal/hub"
	"github.com/pushi-io/pushi/internal/state"
	"github.com/pushi-io/pushi/internal/store"
	"github.com/pushi-io/pushi/internal/store/sqlite"
)

func testApp() *apps.App {
	a := apps.Defaults()
	a.ID, a.Key, a.Secret = "1", "k", "s"
	return &a
}

// newTestAPI wires an API as the server does: a registry of list and a
// hub node on nodeStore (nil: none), closed when the test ends. o is the
// API's options (its Store is the API's own, which tests may wrap); the
// logger discards.
func newTestAPI(t testing.TB, nodeStore store.Store, o Options, list ...apps.App) (*API, *apps.Writable) {
	t.Helper()
	reg, err := apps.NewWritable(list)
	if err != nil {
		t.Fatal(err)
	}
	o.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	opts := hub.DefaultOptions()
	opts.Logger, opts.Store = o.Logger, nodeStore
	node, err := hub.NewNode(opts, reg, state.NewMemory(), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(node.Close)
	if o.Store != nil {
		o.AppWriter = reg // app management: the routes exist with a store and a writer
	}
	return New(o, reg, node), reg
}

// openTestStore opens a SQLite store in the test's directory, closed when
// the test ends.
func openTestStore(t testing.TB) store.Store {
	t.Helper()
	st, err := sqlite.Open(t.TempDir() + "/pushi.db")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

func TestValidateTrigger(t *testing.T) {
	app := testApp()
	big := strings.Repeat("x", 10241)
	many := make([]string, 101)
	for i := range many {
		many[i] = "c" + strings.Repeat("x", i%5)
	}
	manyJSON, _ := json.Marshal(many)
	cases := []struct {
		body   string
		status int // 0 = valid
	}{
		{`{"name":"e","channel":"a","data":"x"}`, 0},
		{`{"name":"e","channels":["a","b","a"],"data":{"k":1}}`, 0},
		{`{"name":"e","channel":"#server-to-user-1","data":"x"}`, 0},
		{`{"name":"e","channel":"a","data":"` + big + `"}`, 413},
		{`{"name":"e","channel":"a"}`, 400},
		{`{"channel":"a","data":"x"}`, 400},
		{`{"name":"e","data":"x"}`, 400},
		{`{"name":"e","channel":"a","channels":["b"],"data":"x"}`, 400},
		{`{"name":"e","channels":[],"data":"x"}`, 400},
		{`{"name":"e","channels":` + string(manyJSON) + `,"data":"x"}`, 400},
		{`{"name":"e","channel":"bad name","data":"x"}`, 400},
		{`{"name":"e","channel":"` + strings.Repeat("a", 201) + `","data":"x"}`, 400},
		{`{"name":"pusher:x","channel":"a","data":"x"}`, 400},
		{`{"name":"pushi_internal:x","channel":"a","data":"x"}`, 400},
		{`{"name":"` + strings.Repeat("e", 201) + `","channel":"a","data":"x"}`, 400},
		{`{"name":"e","channel":"a","data":"x","socket_id":"1.x"}`, 400},
		{`{"name":5,"channel":"a","data":"x"}`, 400},
		{`{"name":"e","channels":"a","data":"x"}`, 400},
		{`not json`, 400},
		{``, 400},
	}
	for _, tc := range cases {
		var req eventRequest
		err := decodeBody([]byte(tc.body), &req)
		var tr *trigger
		if err == nil {
			tr, err = req.validate(app, true)
		}
		status := 0
		if err != nil {
			status = err.(*httpError).status
		}
		if status != tc.status {
			t.Errorf("%.80s: status %d (%v), want %d", tc.body, status, err, tc.status)
		}
		if tc.body == `{"name":"e","channels":["a","b","a"],"data":{"k":1}}` && (len(tr.channels) != 2 || tr.data != `{"k":1}`) {
			t.Errorf("duplicates not collapsed or data not compacted: %+v", tr)
		}
	}
}

// FuzzTriggerBody: any body either validates into a trigger that respects
// every limit or is refused with a 4xx; nothing panics.
func FuzzTriggerBody(f *testing.F) {
	for _, s := range []string{`{"name":"e","channels":["a","b"],"data":"x","socket_id":"1.2","info":"user_count"}`, `{"name":"e","channel":"presence-a","data":{"a":[1,2]}}`, `{"batch":[]}`, `{"name":null}`} {
		f.Add([]byte(s))
	}
	app := testApp()
	f.Fuzz(func(t *testing.T, body []byte) {
		var req eventRequest
		err := decodeBody(body, &req)
		if err == nil {
			var tr *trigger
			tr, err = req.validate(app, true)
			if err == nil {
				if len(tr.channels) == 0 || len(tr.channels) > app.Limits.MaxChannelsPerTrigger || len(tr.data) > app.Limits.MaxEventBytes || tr.name == "" {
					t.Fatalf("accepted an invalid trigger: %+v", tr)
				}
				return
			}
		}
		if he, ok := err.(*httpError); !ok || he.status < 400 || he.status > 499 {
			t.Fatalf("want a 4xx, got %v", err)
		}
	})
}

// FuzzAppPatch feeds arbitrary PATCH bodies to the admin merge: a body is
// either refused with a 4xx or gives a valid app with the same identity,
// and the app it started from is never changed.
func FuzzAppPatch(f *testing.F) {
	for _, s := range []string{`{"client_events":true}`, `{"limits":{"max_batch":0}}`, `{"persistence":{"prefixes":["a-"]}}`,
		`{"apn":null}`, `{"key":"x"}`, `{"web_push":{"vapid_private_key":"AAAA"}}`, `[]`, `{"name":""}`} {
		f.Add([]byte(s))
	}
	base := apps.Generate("fuzz")
	f.Fuzz(func(t *testing.T, body []byte) {
		cur := base
		before, _ := json.Marshal(&cur)
		next, err := mergeApp(&cur, body)
		if after, _ := json.Marshal(&cur); string(after) != string(before) {
			t.Fatal("the merge changed the current app")
		}
		if err == nil {
			if next.ID != cur.ID || next.Key != cur.Key || next.Secret != cur.Secret || next.Validate() != nil {
				t.Fatalf("accepted an invalid update: %+v", next)
			}
			return
		}
		if he, ok := err.(*httpError); !ok || he.status < 400 || he.status > 499 {
			t.Fatalf("want a 4xx, got %v", err)
		}
	})
}
