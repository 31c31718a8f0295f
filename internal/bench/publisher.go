package bench

import (
	"bytes"
	"crypto/md5"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pushi-io/pushi/internal/protocol"
	"github.com/pushi-io/pushi/internal/signature"
)

// Signer signs Pusher HTTP API requests (docs/protocol.md §14.1).
type Signer struct {
	AppID, Key, Secret string
}

// SignedQuery returns the query string (auth_signature included) for a
// request with the given method, path and body, at the given Unix time.
func (s Signer) SignedQuery(method, path string, body []byte, now int64) string {
	params := []signature.Param{
		{Key: "auth_key", Value: s.Key},
		{Key: "auth_timestamp", Value: strconv.FormatInt(now, 10)},
		{Key: "auth_version", Value: "1.0"},
	}
	if len(body) > 0 {
		sum := md5.Sum(body)
		params = append(params, signature.Param{Key: "body_md5", Value: hex.EncodeToString(sum[:])})
	}
	sig := protocol.Sign(s.Secret, signature.StringToSign(method, path, params))
	var b []byte
	for _, p := range params {
		b = append(b, p.Key...)
		b = append(b, '=')
		b = append(b, url.QueryEscape(p.Value)...)
		b = append(b, '&')
	}
	b = append(b, "auth_signature="...)
	b = append(b, sig...)
	return string(b)
}

// ChannelAuth is the auth string for a private (channelData "") or presence
// channel subscription (docs/protocol.md §7.2, §7.3).
func (s Signer) ChannelAuth(socketID, channel, channelData string) string {
	return s.Key + ":" + protocol.Sign(s.Secret, protocol.ChannelAuthMessage(socketID, channel, channelData))
}

// Publisher triggers events through POST /apps/{id}/events.
type Publisher struct {
	signer Signer
	base   string // http://host:port
	path   string // /apps/<id>/events
	client *http.Client

	OK     atomic.Uint64
	Errors atomic.Uint64

	errMu   sync.Mutex
	lastErr string
}

// NewPublisher makes a publisher with up to conns keep-alive connections.
func NewPublisher(apiBase string, s Signer, conns int) *Publisher {
	tr := &http.Transport{
		Proxy:               nil,
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:        conns,
		MaxIdleConnsPerHost: conns,
		MaxConnsPerHost:     conns,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true,
	}
	return &Publisher{
		signer: s,
		base:   apiBase,
		path:   "/apps/" + s.AppID + "/events",
		client: &http.Client{Transport: tr, Timeout: 10 * time.Second},
	}
}

// Publish sends one event to one channel; data is the event's data string.
// It returns the HTTP round trip and whether the server answered 200.
func (p *Publisher) Publish(event, channel string, data []byte) (time.Duration, bool) {
	body := make([]byte, 0, len(data)+len(data)/8+64+len(channel)+len(event))
	body = append(body, `{"name":`...)
	body = protocol.AppendString(body, event)
	body = append(body, `,"channel":`...)
	body = protocol.AppendString(body, channel)
	body = append(body, `,"data":`...)
	body = protocol.AppendString(body, string(data))
	body = append(body, '}')
	q := p.signer.SignedQuery("POST", p.path, body, time.Now().Unix())
	req, err := http.NewRequest("POST", p.base+p.path+"?"+q, bytes.NewReader(body))
	if err != nil {
		p.fail(err.Error())
		return 0, false
	}
	req.Header.Set("Content-Type", "application/json")
	t0 := time.Now()
	resp, err := p.client.Do(req)
	if err != nil {
		p.fail(err.Error())
		return 0, false
	}
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		p.fail(fmt.Sprintf("HTTP %d: %s", resp.StatusCode, bytes.TrimSpace(msg)))
		return 0, false
	}
	p.OK.Add(1)
	return time.Since(t0), true
}

func (p *Publisher) fail(msg string) {
	p.Errors.Add(1)
	p.errMu.Lock()
	p.lastErr = msg
	p.errMu.Unlock()
}

// LastError is the most recent publish failure, "" if none.
func (p *Publisher) LastError() string {
	p.errMu.Lock()
	defer p.errMu.Unlock()
	return p.lastErr
}

// Close drops idle keep-alive connections.
func (p *Publisher) Close() { p.client.CloseIdleConnections() }
