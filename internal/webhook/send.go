package webhook

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"time"

	"github.com/pushi-io/pushi/internal/apps"
	"github.com/pushi-io/pushi/internal/netguard"
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

// attempt sends dl once, then finishes it: sent, retried later or given up.
func (d *Dispatcher) attempt(dl *delivery) {
	// The app may have changed since the event: its key, secrets and
	// endpoint headers are read now. A body whose app or endpoint is gone
	// is dropped.
	app := d.registry.ByID(dl.ep.app.id)
	w := endpointOf(app, dl.ep.key)
	var err error
	if w != nil {
		now := d.opts.Now()
		if dl.attempts == 0 {
			dl.first = now
		}
		dl.attempts++
		err = d.post(app, w, dl)
	}
	var refused *netguard.RefusedError
	isRefused := errors.As(err, &refused)
	var netErr net.Error
	// A timeout of ours (connect, first byte, total), not Close's cancel.
	timedOut := errors.As(err, &netErr) && netErr.Timeout() && d.ctx.Err() == nil
	if isRefused && d.refusalToLog(dl.ep.app.id, dl.ep.key.url) {
		d.log.Warn("webhook destination refused: internal address (allow_private_targets is off for the app)",
			"app", dl.ep.app.id, "host", host(dl.ep.key.url), "addr", refused.Addr.String(), "range", refused.Reason)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	ep, aq := dl.ep, dl.ep.app
	d.finishLocked(ep, timedOut)
	switch {
	case w == nil:
		d.dropped.Add(1)
		dl.state = stateDone
		d.releaseLocked(aq, 0)
		return
	case err == nil:
		d.sent.Add(1)
		dl.state = stateDone
		d.releaseLocked(aq, 0)
		return
	case isRefused:
		// Not retried: the address is refused whenever it is dialled
		// (until the app allows private targets or its DNS changes).
		d.refused.Add(1)
		dl.state = stateDone
		d.releaseLocked(aq, 0)
		return
	}
	d.failed.Add(1)
	wait := backoff(d.opts.RetryFirst, d.opts.RetryMax, dl.attempts)
	if d.closed || d.opts.Now().Add(wait).Sub(dl.first) > d.opts.RetryFor {
		d.dropped.Add(1)
		dl.state = stateDone
		d.releaseLocked(aq, 0)
		if !d.closed {
			d.log.Warn("webhook dropped after retries", "app", ep.app.id, "host", host(ep.key.url), "attempts", dl.attempts, "err", errText(err))
		}
		return
	}
	d.retried.Add(1)
	dl.state = stateWaiting
	aq.events += dl.events
	for w, ok := aq.retrying.peek(); ok && !w.live(); w, ok = aq.retrying.peek() {
		aq.retrying.pop() // retried since: keep the list from growing
	}
	aq.retrying.push(waitEntry{dl, dl.attempts})
	dl.timer = time.AfterFunc(wait, func() {
		d.mu.Lock()
		defer d.mu.Unlock()
		if dl.state == stateWaiting && !d.closed { // not dropped by the bound or Close
			d.readyLocked(dl)
		}
	})
	d.boundLocked(aq)
}

// refusalToLog reports whether a refused destination is logged now: at
// most once a minute per app and host (every refusal is counted), or an
// app whose endpoint is internal would log once per event.
func (d *Dispatcher) refusalToLog(app, rawURL string) bool {
	now := time.Now()
	k := app + " " + host(rawURL)
	d.mu.Lock()
	defer d.mu.Unlock()
	if last, ok := d.refusedLog[k]; ok && now.Sub(last) < time.Minute {
		return false
	}
	if len(d.refusedLog) >= 1024 { // bounded by the apps and hosts refused within a minute
		for key, at := range d.refusedLog {
			if now.Sub(at) >= time.Minute {
				delete(d.refusedLog, key)
			}
		}
	}
	d.refusedLog[k] = now
	return true
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

// signingSecret is the oldest still-valid secret (docs/protocol.md §15): the
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

// endpointOf finds the endpoint in app as it is now: at the same index
// if its URL is unchanged, else the first with that URL; nil when the app
// or the endpoint was removed.
func endpointOf(app *apps.App, k endpointKey) *apps.Webhook {
	if app == nil {
		return nil
	}
	if k.index < len(app.Webhooks) && app.Webhooks[k.index].URL == k.url {
		return &app.Webhooks[k.index]
	}
	for i := range app.Webhooks {
		if app.Webhooks[i].URL == k.url {
			return &app.Webhooks[i]
		}
	}
	return nil
}

// post makes one attempt, bounded by Timeout even with a caller's Client
// that has none, and cut short when Close gives up waiting.
func (d *Dispatcher) post(app *apps.App, w *apps.Webhook, dl *delivery) error {
	ctx, cancel := context.WithTimeout(d.ctx, d.opts.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, dl.ep.key.url, bytes.NewReader(dl.body))
	if err != nil {
		return err
	}
	req.Header.Set("User-Agent", "pushi/"+d.opts.Version)
	for k, v := range w.Headers {
		req.Header.Set(k, v)
	}
	// Set after the extras, so configured headers can never replace them
	// (config validation refuses them too; docs/protocol.md §15).
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Pusher-Key", app.Key)
	req.Header.Set("X-Pusher-Signature", Sign(signingSecret(app, d.opts.Now()), dl.body))
	resp, err := d.clients.forApp(app.AllowPrivateTargets).Do(req)
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
