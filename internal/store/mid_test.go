package store

import (
	"fmt"
	"regexp"
	"sort"
	"sync"
	"testing"
	"time"
)

var uuidV7 = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)

// resetMIDs forgets what the generator made, as a new process would.
func resetMIDs() {
	midGen.Lock()
	midGen.ms, midGen.seq = 0, 0
	midGen.Unlock()
}

func midMillis(t *testing.T, mid string) int64 {
	t.Helper()
	var ms int64
	if _, err := fmt.Sscanf(mid[0:8]+mid[9:13], "%x", &ms); err != nil {
		t.Fatal(err)
	}
	return ms
}

func TestNewMIDFormatAndTime(t *testing.T) {
	resetMIDs()
	at := time.UnixMilli(1_719_580_393_127)
	m := NewMID(at)
	if !uuidV7.MatchString(m) {
		t.Fatalf("%q is not a canonical UUIDv7", m)
	}
	if m[:13] != "01905efa-7ea7" || midMillis(t, m) != at.UnixMilli() {
		t.Fatalf("%s does not hold %d ms", m, at.UnixMilli())
	}
}

// TestNewMIDMonotonic: concurrent callers, one millisecond or a clock
// going back, still get strictly increasing, unique mids.
func TestNewMIDMonotonic(t *testing.T) {
	resetMIDs()
	now := time.Now()
	const goroutines, each = 8, 2000
	got := make([][]string, goroutines)
	var wg sync.WaitGroup
	for g := range got {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < each; i++ {
				// Everyone asks for the same millisecond, some for an earlier one.
				at := now
				if i%3 == 0 {
					at = now.Add(-time.Second)
				}
				got[g] = append(got[g], NewMID(at))
			}
		}()
	}
	wg.Wait()
	all := map[string]bool{}
	for g, mids := range got {
		for i, m := range mids {
			if all[m] {
				t.Fatalf("mid %s made twice", m)
			}
			all[m] = true
			if i > 0 && m <= mids[i-1] {
				t.Fatalf("goroutine %d: %s after %s", g, m, mids[i-1])
			}
		}
	}
	// 16 000 mids in one asked-for millisecond overflow the 4 096 counter:
	// the time is borrowed forward, a few milliseconds, not more.
	keys := make([]string, 0, len(all))
	for m := range all {
		keys = append(keys, m)
	}
	sort.Strings(keys)
	if last := midMillis(t, keys[len(keys)-1]); last > now.UnixMilli()+5 {
		t.Fatalf("the last mid borrowed %d ms", last-now.UnixMilli())
	}
}

func TestSeedMID(t *testing.T) {
	resetMIDs()
	now := time.Now()
	ms := fmt.Sprintf("%012x", now.Add(time.Minute).UnixMilli())
	stored := ms[:8] + "-" + ms[8:] + "-7abc-8000-000000000000"
	SeedMID(stored)
	if m := NewMID(now); m <= stored || m[:18] != stored[:15]+"abd" {
		t.Fatalf("after seeding %s, NewMID made %s", stored, m)
	}
	// Seeding backwards, or with something that is not ours, changes nothing.
	before := NewMID(now)
	for _, s := range []string{"01906043-d1a7-7000-8000-000000000000", "", "not-a-mid", "01906043-d1a7-4000-8000-000000000000", "zz906043-d1a7-7000-8000-000000000000"} {
		SeedMID(s)
	}
	if m := NewMID(now); m <= before {
		t.Fatalf("a lower seed moved the generator back: %s after %s", m, before)
	}
}
