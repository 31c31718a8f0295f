// Package redisconn turns REDIS_URL into a Redis client and names the
// hash-tag partitions every Redis key and pub/sub channel of pushi lives
// in (docs/scaling.md, "What lives in Redis").
package redisconn

import (
	"fmt"
	"hash/fnv"
	"net/url"
	"strconv"
	"strings"

	"github.com/redis/rueidis"
)

// Partitions is the number of hash-tag partitions. All keys of one Pusher
// channel carry its partition's tag, so each script touches one slot and
// the layout runs unchanged on Redis Cluster; 128 spreads the load over a
// Cluster's masters without making per-partition sweeps costly.
const Partitions = 128

// Partition is the partition of a channel of an app.
func Partition(app, channel string) int {
	h := fnv.New32a()
	h.Write([]byte(app))
	h.Write([]byte{0})
	h.Write([]byte(channel))
	return int(h.Sum32() % Partitions)
}

// Tag is the hash tag of partition p, as it appears in keys: "{p17}".
func Tag(p int) string { return "{p" + strconv.Itoa(p) + "}" }

// Options parses a Redis URL into client options.
//
//	redis://[user:password@]host:port[/db]       plain TCP
//	rediss://[user:password@]host:port[/db]      TLS
//	redis-sentinel://[user:password@]host:port[,host:port…]/master[/db]
//
// The redis:// and rediss:// forms also take rueidis's query options
// (addr=, master_set= for Sentinel, dial_timeout=, client_name=, …).
func Options(raw string) (rueidis.ClientOption, error) {
	if rest, ok := strings.CutPrefix(raw, "redis-sentinel://"); ok {
		return sentinel(rest)
	}
	if !strings.HasPrefix(raw, "redis://") && !strings.HasPrefix(raw, "rediss://") {
		return rueidis.ClientOption{}, fmt.Errorf("REDIS_URL must start with redis://, rediss:// or redis-sentinel://")
	}
	opt, err := rueidis.ParseURL(raw)
	if err != nil {
		return opt, fmt.Errorf("REDIS_URL: %w", err)
	}
	return opt, nil
}

func sentinel(rest string) (rueidis.ClientOption, error) {
	var opt rueidis.ClientOption
	// user:password@hosts/master[/db]: split off the credentials by hand,
	// since url.Parse refuses a comma-separated host list with ports.
	if at := strings.LastIndex(rest, "@"); at >= 0 {
		u, err := url.Parse("redis://" + rest[:at+1] + "x")
		if err != nil {
			return opt, fmt.Errorf("REDIS_URL: bad credentials: %w", err)
		}
		opt.Username = u.User.Username()
		opt.Password, _ = u.User.Password()
		rest = rest[at+1:]
	}
	hosts, path, _ := strings.Cut(rest, "/")
	master, db, _ := strings.Cut(path, "/")
	if hosts == "" || master == "" {
		return opt, fmt.Errorf("REDIS_URL: redis-sentinel://host:port[,host:port…]/master-name[/db] needs at least one Sentinel and the master name")
	}
	for _, h := range strings.Split(hosts, ",") {
		if !strings.Contains(h, ":") {
			h += ":26379"
		}
		opt.InitAddress = append(opt.InitAddress, h)
	}
	opt.Sentinel.MasterSet = master
	if db != "" {
		n, err := strconv.Atoi(db)
		if err != nil || n < 0 {
			return opt, fmt.Errorf("REDIS_URL: bad database number %q", db)
		}
		opt.SelectDB = n
	}
	return opt, nil
}

// Redact returns the URL without its password, for logs.
func Redact(raw string) string {
	if at := strings.LastIndex(raw, "@"); at >= 0 {
		if i := strings.Index(raw, "://"); i >= 0 && i < at {
			return raw[:i+3] + "***@" + raw[at+1:]
		}
	}
	return raw
}

// UserPartition is the partition of a user of an app: the partition of
// a name no channel can have, so users spread like channels.
func UserPartition(app, user string) int { return Partition(app, "#user "+user) }

// Key names one Redis key or pub/sub channel of pushi: the prefix
// "pushi:", the partition's tag, the kind, then the parts, separated by
// ':'. App ids cannot hold ':' (apps.Validate); peer channel names can,
// so a channel name or user id is always the last part and the key reads
// back unambiguously.
func Key(p int, kind string, parts ...string) string {
	n := len("pushi:") + 6 + len(kind)
	for _, s := range parts {
		n += 1 + len(s)
	}
	b := make([]byte, 0, n)
	b = append(b, "pushi:"...)
	b = append(b, Tag(p)...)
	b = append(b, ':')
	b = append(b, kind...)
	for _, s := range parts {
		b = append(b, ':')
		b = append(b, s...)
	}
	return string(b)
}

// ChannelTopic is the pub/sub channel a Pusher channel's publications
// (and its channel-routed controls) travel on.
func ChannelTopic(app, channel string) string {
	return Key(Partition(app, channel), "c", app, channel)
}

// UserTopic is the pub/sub channel of a user's controls.
func UserTopic(app, user string) string {
	return Key(UserPartition(app, user), "u", app, user)
}
