package soak

import (
	"encoding/json"
	"fmt"
	"sync"
)

// seqTrack checks that one subscriber sees a channel's sequence numbers
// 1, 2, 3, … exactly once each and in order.
type seqTrack struct {
	mu       sync.Mutex
	last     int64 // highest in-order seq seen
	received int64 // ticks received, in order or not
	gaps     int64 // sequence numbers skipped
	behind   int64 // duplicates or out-of-order arrivals (seq <= last)
	firstBad string
}

// observe records one received seq.
func (t *seqTrack) observe(seq int64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.received++
	switch {
	case seq == t.last+1:
		t.last = seq
	case seq > t.last+1:
		t.gaps += seq - t.last - 1
		t.note(fmt.Sprintf("gap: got %d after %d", seq, t.last))
		t.last = seq
	default:
		t.behind++
		t.note(fmt.Sprintf("duplicate or out of order: got %d after %d", seq, t.last))
	}
}

func (t *seqTrack) note(s string) {
	if t.firstBad == "" {
		t.firstBad = s
	}
}

// snapshot returns the counters.
func (t *seqTrack) snapshot() (last, received, gaps, behind int64, firstBad string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.last, t.received, t.gaps, t.behind, t.firstBad
}

// tick is the data of a soak "tick" event.
type tick struct {
	Ch  int    `json:"ch"`
	Seq int64  `json:"seq"`
	Pad string `json:"pad,omitempty"`
}

// parseTick decodes a server frame of a tick event: the frame's data is a
// JSON string holding the tick object.
func parseTick(msg []byte) (channel string, t tick, err error) {
	var f pusherFrame
	if err = json.Unmarshal(msg, &f); err != nil {
		return "", t, err
	}
	if f.Event != "tick" {
		return "", t, fmt.Errorf("event %q is not tick", f.Event)
	}
	var s string
	if err = json.Unmarshal(f.Data, &s); err != nil {
		return "", t, fmt.Errorf("tick data is not a string: %w", err)
	}
	if err = json.Unmarshal([]byte(s), &t); err != nil {
		return "", t, fmt.Errorf("tick data: %w", err)
	}
	if t.Seq < 1 {
		return "", t, fmt.Errorf("tick without seq: %.100s", s)
	}
	return f.Channel, t, nil
}

// jsonString decodes a frame's data, a JSON string holding JSON, into v.
func jsonString(p *pusherFrame, v any) error {
	var s string
	if err := json.Unmarshal(p.Data, &s); err != nil {
		return err
	}
	return json.Unmarshal([]byte(s), v)
}
