package pushi

import "testing"

// §16 "HTTP POST" and "HTTP GET" rows: the exact string and digest.
func TestSignVectors(t *testing.T) {
	cases := []struct {
		name, method, path string
		params             map[string]string
		wantString         string
		wantDigest         string
	}{
		{
			name: "HTTP POST", method: "POST", path: "/apps/3/events",
			params: map[string]string{
				"auth_key": vecKey, "auth_timestamp": "1353088179", "auth_version": "1.0",
				"body_md5": "ec365a775a4cd0599faeb73354201b6f",
			},
			wantString: "POST\n/apps/3/events\nauth_key=278d425bdf160c739803&auth_timestamp=1353088179&auth_version=1.0&body_md5=ec365a775a4cd0599faeb73354201b6f",
			wantDigest: "da454824c97ba181a32ccc17a72625ba02771f50b50e1e7430e47a1f3f457e6c",
		},
		{
			name: "HTTP GET", method: "GET", path: "/apps/3/channels",
			params: map[string]string{
				"auth_key": vecKey, "auth_timestamp": "1353088179", "auth_version": "1.0",
				"filter_by_prefix": "presence-", "info": "user_count",
			},
			wantString: "GET\n/apps/3/channels\nauth_key=278d425bdf160c739803&auth_timestamp=1353088179&auth_version=1.0&filter_by_prefix=presence-&info=user_count",
			wantDigest: "16819168891cb5dfd72b5c7a5d3d602605b26c6ba1930033b5e2eeeb65010291",
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := stringToSign(tc.method, tc.path, tc.params)
			if s != tc.wantString {
				t.Fatalf("string to sign\n got %q\nwant %q", s, tc.wantString)
			}
			if d := hmacHex(vecSecret, s); d != tc.wantDigest {
				t.Fatalf("digest %s, want %s", d, tc.wantDigest)
			}
		})
	}
}

func TestMD5Vectors(t *testing.T) {
	body := `{"name":"foo","channels":["project-3"],"data":"{\"some\":\"data\"}"}`
	if got := md5Hex([]byte(body)); got != "ec365a775a4cd0599faeb73354201b6f" {
		t.Errorf("md5(body) = %s", got)
	}
	if got := md5Hex(nil); got != "d41d8cd98f00b204e9800998ecf8427e" {
		t.Errorf("md5(empty) = %s", got)
	}
}

// The server lower-cases keys, sorts by byte order and signs decoded values;
// the URL carries the same parameters escaped.
func TestSignLowercasesSortsAndEscapes(t *testing.T) {
	params := map[string]string{"Zeta": "1", "alpha": "a b&c=d", "Info": "user_count,subscription_count"}
	s := stringToSign("get", "/apps/3/channels", params)
	want := "GET\n/apps/3/channels\nalpha=a b&c=d&info=user_count,subscription_count&zeta=1"
	if s != want {
		t.Errorf("string to sign\n got %q\nwant %q", s, want)
	}
	q := encodeQuery(params)
	if wantQ := "alpha=a+b%26c%3Dd&info=user_count%2Csubscription_count&zeta=1"; q != wantQ {
		t.Errorf("query\n got %q\nwant %q", q, wantQ)
	}
}

func TestSignRequestOmitsBodyMD5ForEmptyBody(t *testing.T) {
	q := parseRawQuery(signRequest(vecKey, vecSecret, "GET", "/apps/3/channels", nil, nil, "1353088179"))
	if _, ok := q["body_md5"]; ok {
		t.Error("body_md5 sent for an empty body")
	}
	q = parseRawQuery(signRequest(vecKey, vecSecret, "POST", "/apps/3/users/1/terminate_connections", nil, []byte("{}"), "1353088179"))
	if q["body_md5"] != "99914b932bd37a50b983c5e7c90ae93b" {
		t.Errorf("body_md5 of {} = %q", q["body_md5"])
	}
}
