package webhook

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"slices"
	"time"

	"github.com/pushi-io/pushi/internal/apps"
)

// sender sends ready bodies until Close, then empties ready and exits.
func (d *Dispatcher) sender() {
	defer d.done.Done()
	for {
		dl := d.next()
		if dl == nil {
			select {
			case <-d.wake:
				continue
			case <-d.stop:
				if dl = d.next(); dl == nil {
					return
				}
			}
		}
		d.attempt(dl)
	}
}

// next takes the oldest ready body whose endpoint has no request in
// flight: one request at a time per endpoint keeps first attempts in the
// order the events were raised (member_removed before channel_vacated).
// The body leaves its app's queue count.
func (d *Dispatcher) next() *delivery {
	d.mu.Lock()
	defer d.mu.Unlock()
	i := slices.IndexFunc(d.ready, func(dl *delivery) bool { return !d.busy[dl.endpointKey()] })
	if i < 0 {
		return nil
	}
	dl := d.ready[i]
	d.ready = slices.Delete(d.ready, i, i+1)
	d.busy[dl.endpointKey()] = true
	if dl.attempts == 0 {
		d.perApp[dl.app] -= dl.events
		if d.perApp[dl.app] <= 0 {
			delete(d.perApp, dl.app)
		}
	}
	if len(d.ready) > 0 {
		d.wakeLocked() // more work: pass the wake-up on to another sender
	}
	return dl
}

// release frees dl's endpoint for the next body.
func (d *Dispatcher) release(dl *delivery) {
	d.mu.Lock()
	delete(d.busy, dl.endpointKey())
	if len(d.ready) > 0 {
		d.wakeLocked()
	}
	d.mu.Unlock()
}

func (d *Dispatcher) wakeLocked() {
	select {
	case d.wake <- struct{}{}:
	default:
	}
}

// attempt sends dl once and schedules its retry when that fails.
func (d *Dispatcher) attempt(dl *delivery) {
	defer d.release(dl)
	app := d.registry.ByID(dl.app)
	if app == nil {
		d.dropped.Add(1) // the app was deleted meanwhile
		return
	}
	now := d.opts.Now()
	if dl.attempts == 0 {
		dl.first = now
	}
	dl.attempts++
	err := d.post(app, dl)
	if err == nil {
		d.sent.Add(1)
		return
	}
	d.failed.Add(1)
	wait := backoff(d.opts.RetryFirst, d.opts.RetryMax, dl.attempts)
	if d.opts.Now().Add(wait).Sub(dl.first) > d.opts.RetryFor {
		d.dropped.Add(1)
		d.log.Warn("webhook dropped after retries", "app", dl.app, "host", host(dl.url), "attempts", dl.attempts, "err", errText(err))
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		d.dropped.Add(1)
		return
	}
	d.retried.Add(1)
	d.retries[dl] = time.AfterFunc(wait, func() {
		d.mu.Lock()
		defer d.mu.Unlock()
		if _, ok := d.retries[dl]; !ok {
			return // Close took it
		}
		delete(d.retries, dl)
		d.ready = append(d.ready, dl)
		d.wakeLocked()
	})
}

// backoff is RetryFirst doubling per failed attempt, capped at RetryMax,
// with ±20 % jitter so endpoints coming back are not hit in step.
func backoff(first, maxWait time.Duration, attempts int) time.Duration {
	w := first
	for i := 1; i < attempts && w < maxWait; i++ {
		w *= 2
	}
	w = min(w, maxWait)
	return time.Duration(float64(w) * (0.8 + 0.4*rand.Float64()))
}

// signingSecret is the oldest still-valid secret (protocol.md §15): the
// previous one during a rotation's grace period.
func signingSecret(app *apps.App, now time.Time) string {
	if app.PreviousSecret != "" && now.Before(app.PreviousValidUntil) {
		return app.PreviousSecret
	}
	return app.Secret
}

// Sign is the X-Pusher-Signature of body.
func Sign(secret string, body []byte) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write(body)
	return hex.EncodeToString(m.Sum(nil))
}

// statusError is a non-2xx answer.
type statusError int

func (e statusError) Error() string { return "HTTP " + http.StatusText(int(e)) }

func (d *Dispatcher) post(app *apps.App, dl *delivery) error {
	req, err := http.NewRequest(http.MethodPost, dl.url, bytes.NewReader(dl.body))
	if err != nil {
		return err
	}
	for k, v := range dl.headers {
		req.Header.Set(k, v)
	}
	// Set after the extras, so configured headers can never replace them.
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Pusher-Key", app.Key)
	req.Header.Set("X-Pusher-Signature", Sign(signingSecret(app, d.opts.Now()), dl.body))
	req.Header.Set("User-Agent", "pushi/"+d.opts.Version)
	resp, err := d.opts.Client.Do(req)
	if err != nil {
		return err
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10)) // lets the connection be reused
	resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return statusError(resp.StatusCode)
	}
	return nil
}

// host is the part of an endpoint URL a log may show: a URL can carry
// credentials in its user info, path or query.
func host(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparsable URL)"
	}
	return u.Host
}

// errText is err without the URL net/http puts in it (*url.Error).
func errText(err error) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Op + ": " + ue.Err.Error()
	}
	return err.Error()
}
