package signature

import (
	"crypto/md5"
	"encoding/hex"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/pushi-io/pushi/internal/protocol"
)

// Test vectors from docs/protocol.md §16.
const (
	vecKey    = "278d425bdf160c739803"
	vecSecret = "7ad3773142a6692b25b8"
	vecBody   = `{"name":"foo","channels":["project-3"],"data":"{\"some\":\"data\"}"}`
)

var vecTime = time.Unix(1353088179, 0)

func TestVectorPOST(t *testing.T) {
	sum := md5.Sum([]byte(vecBody))
	if got := hex.EncodeToString(sum[:]); got != "ec365a775a4cd0599faeb73354201b6f" {
		t.Fatalf("body md5 = %s", got)
	}
	q := "auth_key=" + vecKey + "&auth_timestamp=1353088179&auth_version=1.0&body_md5=ec365a775a4cd0599faeb73354201b6f"
	want := "POST\n/apps/3/events\n" + q
	if got := StringToSign("post", "/apps/3/events", ParseQuery(q)); got != want {
		t.Fatalf("string to sign = %q", got)
	}
	sig := "da454824c97ba181a32ccc17a72625ba02771f50b50e1e7430e47a1f3f457e6c"
	if got := protocol.Sign(vecSecret, want); got != sig {
		t.Fatalf("signature = %s", got)
	}
	r := Request{Method: "POST", Paths: []string{"/apps/3/events"}, RawQuery: q + "&auth_signature=" + sig, Body: []byte(vecBody)}
	if err := Verify(r, vecKey, []string{vecSecret}, vecTime.Add(599*time.Second)); err != nil {
		t.Fatal(err)
	}
}

func TestVectorGETUnsortedAndUpperCase(t *testing.T) {
	sig := "16819168891cb5dfd72b5c7a5d3d602605b26c6ba1930033b5e2eeeb65010291"
	// Parameters out of order, upper-case signature, value escaped on the wire.
	q := "info=user_count&filter_by_prefix=presence%2D&auth_version=1.0&auth_timestamp=1353088179&auth_key=" + vecKey + "&auth_signature=" + "16819168891CB5DFD72B5C7A5D3D602605B26C6BA1930033B5E2EEEB65010291"
	r := Request{Method: "GET", Paths: []string{"/apps/3/channels"}, RawQuery: q}
	if err := Verify(r, vecKey, []string{"other-secret", vecSecret}, vecTime); err != nil {
		t.Fatal(err)
	}
	if protocol.Sign(vecSecret, StringToSign("GET", "/apps/3/channels", ParseQuery(q))) != sig {
		t.Fatal("vector mismatch")
	}
}

func TestVerifyFailures(t *testing.T) {
	base := "auth_key=" + vecKey + "&auth_timestamp=1353088179&auth_version=1.0&body_md5=ec365a775a4cd0599faeb73354201b6f"
	good := protocol.Sign(vecSecret, "POST\n/apps/3/events\n"+base)
	cases := []struct {
		name string
		q    string
		body string
		now  time.Time
		want error
	}{
		{"wrong key", "auth_key=nope&auth_timestamp=1353088179&auth_signature=" + good, vecBody, vecTime, ErrKey},
		{"old timestamp", base + "&auth_signature=" + good, vecBody, vecTime.Add(601 * time.Second), ErrTimestamp},
		{"future timestamp", base + "&auth_signature=" + good, vecBody, vecTime.Add(-601 * time.Second), ErrTimestamp},
		{"tampered body", base + "&auth_signature=" + good, vecBody + " ", vecTime, ErrBodyMD5},
		{"missing md5", "auth_key=" + vecKey + "&auth_timestamp=1353088179&auth_signature=" + good, vecBody, vecTime, ErrBodyMD5},
		{"bad signature", base + "&auth_signature=00" + good[2:], vecBody, vecTime, ErrSignature},
		{"non-hex signature", base + "&auth_signature=zz", vecBody, vecTime, ErrSignature},
		{"bad version", base + "&auth_version=2.0&auth_signature=" + good, vecBody, vecTime, ErrVersion},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := Request{Method: "POST", Paths: []string{"/apps/3/events"}, RawQuery: tc.q, Body: []byte(tc.body)}
			if err := Verify(r, vecKey, []string{vecSecret}, tc.now); err != tc.want {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
		})
	}
}

func TestParseQueryTolerant(t *testing.T) {
	got := ParseQuery("info=user_count,subscription_count&channels[]=a&channels[]=b;c&x=%zz%41+b&EMPTY=&&K=1")
	want := []Param{{"info", "user_count,subscription_count"}, {"channels[]", "a,b;c"}, {"x", "%zzA b"}, {"empty", ""}, {"k", "1"}}
	if len(got) != len(want) {
		t.Fatalf("got %v", got)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("param %d: got %v, want %v", i, got[i], want[i])
		}
	}
}

func FuzzVerify(f *testing.F) {
	f.Add("POST", "/apps/3/events", "auth_key=k&auth_timestamp=1353088179&body_md5=x&auth_signature=ab", []byte(vecBody))
	f.Add("GET", "/apps/3/channels", "info=user_count&filter_by_prefix=presence-&%zz=%", []byte(nil))
	f.Fuzz(func(t *testing.T, method, path, query string, body []byte) {
		params := ParseQuery(query)
		_ = StringToSign(method, path, params)
		r := Request{Method: method, Paths: []string{path}, RawQuery: query, Body: body}
		if Verify(r, "k", []string{"s"}, vecTime) == nil {
			// Only a correct HMAC may pass: recompute it independently.
			sig, _ := Get(params, "auth_signature")
			if !protocol.VerifySignature(sig, StringToSign(method, path, params), []string{"s"}) {
				t.Fatalf("accepted without a valid signature: %q", query)
			}
		}
	})
}

// A query of many repeats of one key is parsed before any signature
// check, so its cost must stay linear. Measured in bytes allocated, not
// time: 200 KB of "a&" allocated about 10 GB when each repeat copied the
// joined value, and about 22 times the input (the slice of values, the join) joined once.
func TestParseQueryRepeatsLinear(t *testing.T) {
	raw := strings.Repeat("a=b&", 50_000) // 200 KB
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	params := ParseQuery(raw)
	runtime.ReadMemStats(&after)
	if len(params) != 1 || params[0].Key != "a" || len(params[0].Value) != 2*50_000-1 || !strings.HasPrefix(params[0].Value, "b,b,") {
		t.Fatalf("parsed %d params, value length %d", len(params), len(params[0].Value))
	}
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 100*uint64(len(raw)) {
		t.Fatalf("parsing %d bytes allocated %d bytes: quadratic in the repeats", len(raw), alloc)
	}
}

// VerifyQuery needs no body: the HMAC covers body_md5, so a request is
// authenticated from its request line and only the MD5 waits for the
// body (VerifyBody).
func TestVerifyQueryBeforeBody(t *testing.T) {
	base := "auth_key=" + vecKey + "&auth_timestamp=1353088179&auth_version=1.0&body_md5=ec365a775a4cd0599faeb73354201b6f"
	good := base + "&auth_signature=" + protocol.Sign(vecSecret, "POST\n/apps/3/events\n"+base)
	paths := []string{"/apps/3/events"}
	if err := VerifyQuery(ParseQuery(good), "POST", paths, vecKey, []string{vecSecret}, vecTime, true); err != nil {
		t.Fatalf("good query: %v", err)
	}
	if err := VerifyBody(ParseQuery(good), []byte(vecBody)); err != nil {
		t.Fatalf("good body: %v", err)
	}
	if err := VerifyBody(ParseQuery(good), []byte(vecBody+" ")); err != ErrBodyMD5 {
		t.Fatalf("tampered body: %v", err)
	}
	// A body is announced but no body_md5 signed: refused before reading.
	noMD5 := "auth_key=" + vecKey + "&auth_timestamp=1353088179"
	noMD5 += "&auth_signature=" + protocol.Sign(vecSecret, "POST\n/apps/3/events\n"+noMD5)
	if err := VerifyQuery(ParseQuery(noMD5), "POST", paths, vecKey, []string{vecSecret}, vecTime, true); err != ErrBodyMD5 {
		t.Fatalf("announced body without body_md5: %v", err)
	}
	if err := VerifyQuery(ParseQuery(noMD5), "POST", paths, vecKey, []string{vecSecret}, vecTime, false); err != nil {
		t.Fatalf("no body, no body_md5: %v", err)
	}
	// A wrong secret fails from the query alone.
	if err := VerifyQuery(ParseQuery(good), "POST", paths, vecKey, []string{"other"}, vecTime, true); err != ErrSignature {
		t.Fatalf("wrong secret: %v", err)
	}
}

func TestCheckKeys(t *testing.T) {
	known := func(k string) bool { return k == "limit" || k == "user_id" }
	cases := []struct {
		raw  string
		want string // "" = accepted
	}{
		{"limit=1&user_id=a", ""},
		{"LIMIT=1&limit=2&Limit=3", `query parameter "LIMIT" must be sent as "limit" (lower case, not escaped)`},
		{"limit=1&limit=2", `query parameter "limit" is given more than once`},
		{"li%6Dit=1", `query parameter "li%6Dit" must be sent as "limit" (lower case, not escaped)`},
		{"user%5Fid=a", `query parameter "user%5Fid" must be sent as "user_id" (lower case, not escaped)`},
		{"User_Id=a", `query parameter "User_Id" must be sent as "user_id" (lower case, not escaped)`},
		{"limit", ""},
		{"limit&limit=", `query parameter "limit" is given more than once`},
		// Keys nobody reads are only signed: any spelling, any repeat.
		{"X=1&x=2&channels[]=a&channels[]=b", ""},
		{"&&limit=1&&", ""},
		{"", ""},
	}
	for _, tc := range cases {
		err := CheckKeys(tc.raw, known)
		got := ""
		if err != nil {
			got = err.Error()
		}
		if got != tc.want {
			t.Errorf("%q: %q, want %q", tc.raw, got, tc.want)
		}
	}
}
