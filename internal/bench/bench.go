// Package bench is a load generator for Pusher-protocol servers (pushi,
// soketi, …): it drives the WebSocket side with lean clients and the HTTP
// API with signed publishes, and reports throughput, loss and latency. It
// only ever talks to loopback addresses. Entry point: Run (pushi bench).
package bench

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"net"
	"net/url"
	"os"
	"os/signal"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Options holds every flag; each scenario uses its own subset.
type Options struct {
	WS, API               string
	AppID, Key, Secret    string
	SourcesSpec           string
	Sources               []net.IP
	ServerPID             int
	JSON                  bool
	Prefix                string
	ConnectRate           float64
	Timeout               time.Duration
	Drain                 time.Duration
	Subscribers, Channels int
	Rate                  float64
	Duration              time.Duration
	Payload               int
	Publishers            int
	Start, Factor         float64
	StepDuration          time.Duration
	MaxSteps              int
	MaxLossPct            float64
	MaxP99                time.Duration
	N                     int
	Hold                  time.Duration
	Members, Observers    int
	Stay                  time.Duration
	Label                 string
	CPUProfile            string
	runID                 string
	dialer                *Dialer
	signer                Signer
	stdout, stderr        io.Writer
	progress              bool
}

type scenario struct {
	name, summary string
	flags         func(fs *flag.FlagSet, o *Options)
	run           func(ctx context.Context, o *Options, r *Report) error
}

var scenarios = []scenario{
	{"fanout", "N subscribers on C channels, HTTP publishes at a fixed rate: deliveries/s, loss, end-to-end latency", fanoutFlags, runFanout},
	{"saturate", "fanout with the publish rate stepped up until loss > 0.1 % or p99 > 100 ms: the knee", saturateFlags, runSaturate},
	{"conns", "N idle subscribed connections: connect rate, handshake latency, server memory per connection", connsFlags, runConns},
	{"presence", "members join and leave presence channels: join latency, missed member_added/member_removed", presenceFlags, runPresence},
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: pushi bench <scenario> [flags]   (pushi bench <scenario> -h for its flags)")
	fmt.Fprintln(w, "scenarios:")
	for _, s := range scenarios {
		fmt.Fprintf(w, "  %-9s %s\n", s.name, s.summary)
	}
}

// Limits that keep every run bounded.
const (
	maxCount    = 200_000
	maxDuration = 10 * time.Minute
	maxRate     = 1_000_000
)

// Run executes `pushi bench <args>` and returns the exit code.
func Run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "-help" || args[0] == "--help" || args[0] == "help" {
		usage(stderr)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	var sc *scenario
	for i := range scenarios {
		if scenarios[i].name == args[0] {
			sc = &scenarios[i]
		}
	}
	if sc == nil {
		fmt.Fprintf(stderr, "pushi bench: unknown scenario %q\n", args[0])
		usage(stderr)
		return 2
	}
	o := &Options{stdout: stdout, stderr: stderr}
	fs := flag.NewFlagSet("pushi bench "+sc.name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	commonFlags(fs, o)
	sc.flags(fs, o)
	if err := fs.Parse(args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "pushi bench %s: unexpected argument %q\n", sc.name, fs.Arg(0))
		return 2
	}
	if err := o.validate(); err != nil {
		fmt.Fprintf(stderr, "pushi bench %s: %v\n", sc.name, err)
		return 2
	}
	r := newReport(sc.name, o)
	if lim, err := RaiseNoFile(); err != nil {
		r.note("could not raise RLIMIT_NOFILE: %v (now %d)", err, lim)
	} else {
		r.Param("rlimit_nofile", lim)
	}
	o.dialer = NewDialer(o.WS, o.Key, o.Sources, o.Timeout)
	o.signer = Signer{AppID: o.AppID, Key: o.Key, Secret: o.Secret}
	o.runID = strconv.FormatInt(time.Now().UnixNano()%1_000_000_000, 36)

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if o.CPUProfile != "" {
		pf, err := os.Create(o.CPUProfile)
		if err == nil {
			err = pprof.StartCPUProfile(pf)
		}
		if err != nil {
			fmt.Fprintf(stderr, "pushi bench: -cpuprofile: %v\n", err)
			return 2
		}
		defer func() { pprof.StopCPUProfile(); pf.Close() }()
	}
	cpu0 := selfCPU()
	err := sc.run(ctx, o, r)
	total := cpuBetween(cpu0, selfCPU())
	r.Metric("tool_cpu_total_s", round3(total.Seconds), "s")
	r.Metric("tool_rss_end", float64(selfRSS())/(1<<20), "MiB")
	if err != nil {
		r.Error = err.Error()
	}
	if o.JSON {
		b, _ := json.Marshal(r)
		fmt.Fprintln(stdout, string(b))
	} else {
		r.print(stdout)
	}
	if err != nil {
		if !o.JSON {
			fmt.Fprintf(stderr, "pushi bench %s: %v\n", sc.name, err)
		}
		return 1
	}
	return 0
}

func commonFlags(fs *flag.FlagSet, o *Options) {
	fs.StringVar(&o.WS, "ws", "ws://127.0.0.1:9090", "WebSocket base URL (loopback only)")
	fs.StringVar(&o.API, "api", "http://127.0.0.1:8080", "HTTP API base URL (loopback only)")
	fs.StringVar(&o.AppID, "app-id", "app-id", "app id")
	fs.StringVar(&o.Key, "key", "app-key", "app key")
	fs.StringVar(&o.Secret, "secret", "app-secret", "app secret")
	fs.StringVar(&o.SourcesSpec, "sources", "127.0.0.1-127.0.0.8", "loopback source addresses for WebSocket connections, round robin: a.b.c.d-a.b.c.e range or comma list; empty = kernel's choice")
	fs.IntVar(&o.ServerPID, "server-pid", 0, "server process id: report its RSS and CPU from /proc")
	fs.BoolVar(&o.JSON, "json", false, "print one JSON object with every result")
	fs.StringVar(&o.Prefix, "prefix", "bench", "channel name prefix")
	fs.StringVar(&o.Label, "label", "", "free text copied into the report (e.g. the server's name)")
	fs.Float64Var(&o.ConnectRate, "connect-rate", 2000, "new connections per second")
	fs.DurationVar(&o.Timeout, "timeout", 10*time.Second, "per-connection handshake timeout; also bounds waiting for subscriptions (×6)")
	fs.DurationVar(&o.Drain, "drain", 5*time.Second, "how long to wait for outstanding deliveries after publishing stops")
	fs.BoolVar(&o.progress, "progress", true, "print progress lines to stderr")
	fs.StringVar(&o.CPUProfile, "cpuprofile", "", "write the tool's own CPU profile to this file")
}

func fanoutFlags(fs *flag.FlagSet, o *Options) {
	publishFlags(fs, o)
	fs.Float64Var(&o.Rate, "rate", 100, "publishes per second (HTTP API)")
	fs.DurationVar(&o.Duration, "duration", 10*time.Second, "publishing time")
}

// publishFlags are shared by fanout and saturate.
func publishFlags(fs *flag.FlagSet, o *Options) {
	fs.IntVar(&o.Subscribers, "subscribers", 1000, "subscriber connections")
	fs.IntVar(&o.Channels, "channels", 1, "channels; subscribers spread evenly")
	fs.IntVar(&o.Payload, "payload", 100, "event data size in bytes")
	fs.IntVar(&o.Publishers, "publishers", 16, "concurrent HTTP publishers (keep-alive connections)")
}

func saturateFlags(fs *flag.FlagSet, o *Options) {
	publishFlags(fs, o)
	fs.Float64Var(&o.Start, "start", 50, "first step's publish rate per second")
	fs.Float64Var(&o.Factor, "factor", 1.5, "rate multiplier between steps")
	fs.DurationVar(&o.StepDuration, "step-duration", 5*time.Second, "publishing time per step")
	fs.IntVar(&o.MaxSteps, "max-steps", 12, "most steps")
	fs.Float64Var(&o.MaxLossPct, "max-loss", 0.1, "a step fails above this loss, in percent")
	fs.DurationVar(&o.MaxP99, "max-p99", 100*time.Millisecond, "a step fails above this p99 end-to-end latency")
	o.Drain = 2 * time.Second // shorter default: the drain runs after every step
	fs.Lookup("drain").DefValue = o.Drain.String()
}

func connsFlags(fs *flag.FlagSet, o *Options) {
	fs.IntVar(&o.N, "n", 2000, "connections")
	fs.IntVar(&o.Channels, "channels", 100, "channels; connections spread evenly")
	fs.DurationVar(&o.Hold, "hold", 5*time.Second, "how long to hold the connections open")
}

func presenceFlags(fs *flag.FlagSet, o *Options) {
	fs.IntVar(&o.Members, "members", 200, "members that join and then leave")
	fs.IntVar(&o.Channels, "channels", 1, "presence channels; members spread evenly")
	fs.IntVar(&o.Observers, "observers", 2, "observer connections per channel (each must see every member event)")
	fs.Float64Var(&o.Rate, "rate", 50, "joins per second")
	fs.DurationVar(&o.Stay, "stay", time.Second, "how long each member stays before leaving")
}

func (o *Options) validate() error {
	var errs []error
	if err := CheckLoopbackURL(o.WS, "ws"); err != nil {
		errs = append(errs, fmt.Errorf("-ws: %w", err))
	}
	if err := CheckLoopbackURL(o.API, "http"); err != nil {
		errs = append(errs, fmt.Errorf("-api: %w", err))
	}
	o.WS = strings.TrimRight(o.WS, "/")
	o.API = strings.TrimRight(o.API, "/")
	srcs, err := parseSources(o.SourcesSpec)
	if err != nil {
		errs = append(errs, fmt.Errorf("-sources: %w", err))
	}
	o.Sources = srcs
	if u, err := url.Parse(o.WS); err == nil {
		if ip := net.ParseIP(u.Hostname()); ip != nil && ip.To4() == nil {
			o.Sources = nil // IPv4 source addresses cannot reach ::1
		}
	}
	if o.AppID == "" || o.Key == "" || o.Secret == "" {
		errs = append(errs, errors.New("-app-id, -key and -secret must be set"))
	}
	count := func(name string, v int) {
		if v < 0 || v > maxCount {
			errs = append(errs, fmt.Errorf("-%s must be in 0..%d", name, maxCount))
		}
	}
	positive := func(name string, v int) {
		if v < 1 || v > maxCount {
			errs = append(errs, fmt.Errorf("-%s must be in 1..%d", name, maxCount))
		}
	}
	dur := func(name string, v time.Duration) {
		if v < 0 || v > maxDuration {
			errs = append(errs, fmt.Errorf("-%s must be in 0..%v", name, maxDuration))
		}
	}
	rate := func(name string, v float64) {
		if !(v > 0 && v <= maxRate) {
			errs = append(errs, fmt.Errorf("-%s must be in (0, %d]", name, maxRate))
		}
	}
	count("subscribers", o.Subscribers)
	count("n", o.N)
	count("members", o.Members)
	count("observers", o.Observers)
	positive("channels", o.Channels)
	positive("publishers", max(o.Publishers, 1))
	rate("connect-rate", o.ConnectRate)
	if o.Rate != 0 {
		rate("rate", o.Rate)
	}
	if o.Start != 0 {
		rate("start", o.Start)
		if !(o.Factor > 1 && o.Factor <= 10) {
			errs = append(errs, errors.New("-factor must be in (1, 10]"))
		}
		if o.MaxSteps < 1 || o.MaxSteps > 30 {
			errs = append(errs, errors.New("-max-steps must be in 1..30"))
		}
	}
	for _, d := range []struct {
		n string
		v time.Duration
	}{{"duration", o.Duration}, {"step-duration", o.StepDuration}, {"hold", o.Hold}, {"stay", o.Stay}, {"drain", o.Drain}, {"timeout", o.Timeout}} {
		dur(d.n, d.v)
	}
	if o.Payload < 0 || o.Payload > 10240 {
		errs = append(errs, errors.New("-payload must be in 0..10240 (the default max_event_bytes)"))
	}
	if o.Timeout <= 0 {
		errs = append(errs, errors.New("-timeout must be > 0"))
	}
	for _, c := range o.Prefix {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			errs = append(errs, errors.New("-prefix: only letters, digits, - and _"))
			break
		}
	}
	return errors.Join(errs...)
}

// CheckLoopbackURL refuses anything but scheme:// on 127.0.0.0/8, ::1 and
// localhost, with no path: the load tools flood whatever they point at.
func CheckLoopbackURL(raw, scheme string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return err
	}
	if u.Scheme != scheme {
		return fmt.Errorf("scheme must be %s:// (got %q)", scheme, raw)
	}
	if u.Path != "" && u.Path != "/" {
		return fmt.Errorf("no path allowed (got %q)", u.Path)
	}
	return checkLoopbackHost(u.Hostname())
}

func checkLoopbackHost(h string) error {
	if strings.EqualFold(h, "localhost") {
		return nil
	}
	ip := net.ParseIP(h)
	if ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("host %q is not loopback (127.0.0.0/8, ::1, localhost): this tool only loads local servers", h)
	}
	return nil
}

// parseSources reads "127.0.0.1-127.0.0.8" or "127.0.0.1,127.0.0.2".
func parseSources(spec string) ([]net.IP, error) {
	spec = strings.TrimSpace(spec)
	if spec == "" {
		return nil, nil
	}
	var out []net.IP
	for _, part := range strings.Split(spec, ",") {
		part = strings.TrimSpace(part)
		lo, hi, isRange := strings.Cut(part, "-")
		a := net.ParseIP(lo).To4()
		if a == nil || !a.IsLoopback() {
			return nil, fmt.Errorf("%q is not an IPv4 loopback address", lo)
		}
		if !isRange {
			out = append(out, a)
			continue
		}
		b := net.ParseIP(hi).To4()
		if b == nil || !b.IsLoopback() || a[0] != b[0] || a[1] != b[1] || a[2] != b[2] || b[3] < a[3] {
			return nil, fmt.Errorf("bad range %q (only the last octet may vary)", part)
		}
		for x := int(a[3]); x <= int(b[3]); x++ {
			out = append(out, net.IPv4(a[0], a[1], a[2], byte(x)).To4())
		}
	}
	if len(out) > 256 {
		return nil, errors.New("at most 256 source addresses")
	}
	return out, nil
}

func (o *Options) logf(format string, args ...any) {
	if o.progress {
		fmt.Fprintf(o.stderr, "bench: "+format+"\n", args...)
	}
}

// shards is how many histogram/counter shards reader goroutines spread over.
func shards() int { return 4 * runtime.GOMAXPROCS(0) }

func round3(v float64) float64 {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return 0
	}
	return math.Round(v*1000) / 1000
}
