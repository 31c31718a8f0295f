package bench

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"time"
)

// Report is a scenario's result; metric order is preserved in JSON.
type Report struct {
	Scenario string
	Label    string
	WS, API  string
	Time     time.Time
	Params   ordered
	Metrics  ordered
	Units    map[string]string
	Steps    []ordered
	Notes    []string
	Error    string
}

type kv struct {
	k string
	v any
}

// ordered is a JSON object that keeps insertion order.
type ordered []kv

func (o ordered) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, e := range o {
		if i > 0 {
			b.WriteByte(',')
		}
		k, _ := json.Marshal(e.k)
		b.Write(k)
		b.WriteByte(':')
		v, err := json.Marshal(e.v)
		if err != nil {
			return nil, err
		}
		b.Write(v)
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

func newReport(name string, o *Options) *Report {
	return &Report{Scenario: name, Label: o.Label, WS: o.WS, API: o.API, Time: time.Now().UTC(), Units: map[string]string{}}
}

// Param records an input parameter.
func (r *Report) Param(k string, v any) { r.Params = append(r.Params, kv{k, v}) }

// Metric records a result with its unit.
func (r *Report) Metric(k string, v float64, unit string) {
	r.Metrics = append(r.Metrics, kv{k, round3(v)})
	if unit != "" {
		r.Units[k] = unit
	}
}

func (r *Report) note(format string, args ...any) {
	r.Notes = append(r.Notes, fmt.Sprintf(format, args...))
}

// MarshalJSON renders the report for scripts.
func (r *Report) MarshalJSON() ([]byte, error) {
	out := ordered{
		{"scenario", r.Scenario},
		{"label", r.Label},
		{"ws", r.WS},
		{"api", r.API},
		{"time", r.Time.Format(time.RFC3339)},
		{"params", r.Params},
		{"metrics", r.Metrics},
		{"units", r.Units},
	}
	if len(r.Steps) > 0 {
		out = append(out, kv{"steps", r.Steps})
	}
	if len(r.Notes) > 0 {
		out = append(out, kv{"notes", r.Notes})
	}
	if r.Error != "" {
		out = append(out, kv{"error", r.Error})
	}
	return out.MarshalJSON()
}

func (r *Report) print(w io.Writer) {
	fmt.Fprintf(w, "%s against %s (API %s)", r.Scenario, r.WS, r.API)
	if r.Label != "" {
		fmt.Fprintf(w, " [%s]", r.Label)
	}
	fmt.Fprintln(w)
	for _, p := range r.Params {
		fmt.Fprintf(w, "  %-28s %v\n", p.k, p.v)
	}
	if len(r.Steps) > 0 {
		fmt.Fprintln(w, "steps:")
		for _, s := range r.Steps {
			var b bytes.Buffer
			for i, e := range s {
				if i > 0 {
					b.WriteString("  ")
				}
				fmt.Fprintf(&b, "%s=%v", e.k, e.v)
			}
			fmt.Fprintf(w, "  %s\n", b.String())
		}
	}
	fmt.Fprintln(w, "results:")
	for _, m := range r.Metrics {
		v := m.v.(float64)
		fmt.Fprintf(w, "  %-28s %14s %s\n", m.k, strconv.FormatFloat(v, 'f', -1, 64), r.Units[m.k])
	}
	for _, n := range r.Notes {
		fmt.Fprintf(w, "note: %s\n", n)
	}
	if r.Error != "" {
		fmt.Fprintf(w, "error: %s\n", r.Error)
	}
}
