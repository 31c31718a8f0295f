package redisconn

import (
	"strings"
	"testing"
)

func TestOptions(t *testing.T) {
	o, err := Options("redis://:secret@127.0.0.1:7000/2")
	if err != nil || o.InitAddress[0] != "127.0.0.1:7000" || o.Password != "secret" || o.SelectDB != 2 || o.TLSConfig != nil {
		t.Fatalf("redis:// = %+v, %v", o, err)
	}
	o, err = Options("rediss://cache.example:6380")
	if err != nil || o.TLSConfig == nil || o.TLSConfig.ServerName != "cache.example" {
		t.Fatalf("rediss:// = %+v, %v", o, err)
	}
	o, err = Options("redis-sentinel://u:p@s1:26379,s2/mymaster/3")
	if err != nil || strings.Join(o.InitAddress, ",") != "s1:26379,s2:26379" || o.Sentinel.MasterSet != "mymaster" ||
		o.SelectDB != 3 || o.Username != "u" || o.Password != "p" {
		t.Fatalf("redis-sentinel:// = %+v, %v", o, err)
	}
	for _, bad := range []string{"http://x", "redis-sentinel://s1", "redis-sentinel:///m", "redis-sentinel://s1/m/x", "redis://h/x/y"} {
		if _, err := Options(bad); err == nil {
			t.Errorf("Options(%q) accepted", bad)
		}
	}
}

func TestPartitionSpreads(t *testing.T) {
	seen := map[int]int{}
	for i := 0; i < 10000; i++ {
		p := Partition("app", "channel-"+strings.Repeat("x", i%7)+string(rune('a'+i%26))+string(rune(i)))
		if p < 0 || p >= Partitions {
			t.Fatalf("partition %d out of range", p)
		}
		seen[p]++
	}
	if len(seen) != Partitions {
		t.Fatalf("10 000 channels used %d of %d partitions", len(seen), Partitions)
	}
	if Tag(17) != "{p17}" {
		t.Fatal(Tag(17))
	}
}

func TestRedact(t *testing.T) {
	if got := Redact("redis://:pw@h:1/0"); got != "redis://***@h:1/0" {
		t.Fatal(got)
	}
	if got := Redact("redis://h:1"); got != "redis://h:1" {
		t.Fatal(got)
	}
}

func TestKeys(t *testing.T) {
	if got := ChannelTopic("app1", "peer-a:b&c"); got != Key(Partition("app1", "peer-a:b&c"), "c", "app1", "peer-a:b&c") || !strings.HasSuffix(got, ":c:app1:peer-a:b&c") {
		t.Fatal(got)
	}
	if got := UserTopic("app1", "u1"); !strings.HasPrefix(got, "pushi:{p") || !strings.HasSuffix(got, "}:u:app1:u1") {
		t.Fatal(got)
	}
}
