package bench

import (
	"testing"
	"time"
)

func unixTime(s int64) time.Time { return time.Unix(s, 0) }

func TestScanners(t *testing.T) {
	msg := []byte(`{"event":"bench","channel":"bench-x-0","data":"{\"bench_t\":1700000000123456789,\"bench_s\":42,\"bench_r\":3,\"pad\":\"xx\"}"}`)
	if ev := EventName(msg); string(ev) != "bench" {
		t.Fatalf(
			"EventName = %q",
			ev)
	}
	cases := []struct {
		key  string
		want int64
	}{
		{
			key:  "bench_t",
			want: 1700000000123456789,
		},
		{
			key:  "bench_s",
			want: 42,
		},
		{
			key:  "bench_r",
			want: 3,
		},
	}
	for _, c := range cases {
		got, ok := scanInt(msg, c.key)
		if !ok || got != c.want {
			t.Errorf(
				"scanInt(%s) = %d, %v; want %d",
				c.key, got, ok, c.want)
		}
	}
	if _, ok := scanInt(msg, "missing"); ok {
		t.Error("scanInt found a missing key")
	}
	est := []byte(`{"event":"pusher:connection_established","data":"{\"socket_id\":\"264774.13368624\",\"activity_timeout\":120}"}`)
	if id := scanString(est, "socket_id"); string(id) != "264774.13368624" {
		t.Errorf(
			"socket_id = %q",
			id)
	}
	added := []byte(`{"event":"pusher_internal:member_added","channel":"presence-a","data":"{\"user_id\":\"m17\",\"user_info\":{\"i\":17}}"}`)
	if id := scanString(added, "user_id"); string(id) != "m17" {
		t.Errorf(
			"user_id = %q",
			id)
	}
	// A key that only appears inside a value is not a member name.
	tricky := []byte(`{"event":"x-event_y","data":"event"}`)
	if ev := EventName(tricky); string(ev) != "x-event_y" {
		t.Errorf(
			"EventName(tricky) = %q",
			ev)
	}
}

func TestAppendDataSize(t *testing.T) {
	b := appendData(nil, 1700000000123456789, 7, 1, 100)
	if len(b) != 100 {
		t.Errorf(
			"len = %d, want 100: %s",
			len(b), b)
	}
	if v, ok := scanInt(b, "bench_s"); !ok || v != 7 {
		t.Errorf(
			"bench_s = %d %v",
			v, ok)
	}
}

func TestLoopbackOnly(t *testing.T) {
	cases := []struct {
		url    string
		scheme string
		ok     bool
	}{
		{
			url:    "ws://127.0.0.1:9090",
			scheme: "ws",
			ok:     true,
		},
		{
			url:    "ws://127.1.2.3:9090",
			scheme: "ws",
			ok:     true,
		},
		{
			url:    "http://localhost:8080",
			scheme: "http",
			ok:     true,
		},
		{
			url:    "http://[::1]:8080",
			scheme: "http",
			ok:     true,
		},
		{
			url:    "ws://10.0.0.1:9090",
			scheme: "ws",
		},
		{
			url:    "http://example.com",
			scheme: "http",
		},
		{
			url:    "ws://127.0.0.1.example.com:80",
			scheme: "ws",
		},
		{
			url:    "http://127.0.0.1:8080",
			scheme: "ws",
		},
	}
	for _, c := range cases {
		err := CheckLoopbackURL(c.url, c.scheme)
		if (err == nil) != c.ok {
			t.Errorf(
				"CheckLoopbackURL(%s) = %v, want ok=%v",
				c.url, err, c.ok)
		}
	}
	ips, err := parseSources("127.0.0.1-127.0.0.8")
	if err != nil || len(ips) != 8 || ips[7].String() != "127.0.0.8" {
		t.Errorf(
			"parseSources = %v, %v",
			ips, err)
	}
	if _, err := parseSources("10.0.0.1"); err == nil {
		t.Error("parseSources accepted a non-loopback address")
	}
}
