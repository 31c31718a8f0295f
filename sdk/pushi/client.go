package pushi

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// DefaultBaseURL is where a locally started pushi serves its HTTP API.
const DefaultBaseURL = "http://127.0.0.1:8080"

// DefaultTimeout bounds each HTTP call unless WithTimeout says otherwise.
const DefaultTimeout = 10 * time.Second

// maxResponseBytes keeps a misbehaving server from exhausting memory.
const maxResponseBytes = 16 << 20

// Client talks to one pushi app. It is safe for concurrent use.
type Client struct {
	appID, key, secret string

	base    *url.URL // scheme, host and optional mount prefix
	baseErr error    // reported by every HTTP call, since New cannot fail
	http    *http.Client
	timeout time.Duration

	masterKey    []byte
	masterKeyErr error

	now func() time.Time // replaced in tests to pin auth_timestamp
}

// Option configures a Client.
type Option func(*Client)

// WithBaseURL sets the server's HTTP API address, e.g. "https://rt.example.com".
// A path (e.g. "/pushi") is the server's mount prefix: it is sent but not
// signed, as the server strips it before verifying.
func WithBaseURL(raw string) Option {
	return func(c *Client) { c.base, c.baseErr = parseBaseURL(raw) }
}

// WithHTTPClient sets the HTTP client used for API calls.
func WithHTTPClient(hc *http.Client) Option {
	return func(c *Client) {
		if hc != nil {
			c.http = hc
		}
	}
}

// WithTimeout bounds each API call; 0 leaves only the caller's context.
func WithTimeout(d time.Duration) Option {
	return func(c *Client) { c.timeout = d }
}

// WithEncryptionMasterKey sets the base64-encoded 32-byte master key from which
// the shared secret of each private-encrypted- channel is derived.
func WithEncryptionMasterKey(base64Key string) Option {
	return func(c *Client) {
		key, err := base64.StdEncoding.DecodeString(base64Key)
		switch {
		case err != nil:
			c.masterKey, c.masterKeyErr = nil, invalid("encryption master key", "not valid base64")
		case len(key) != 32:
			c.masterKey, c.masterKeyErr = nil, invalid("encryption master key", "decodes to %d bytes, want 32", len(key))
		default:
			c.masterKey, c.masterKeyErr = key, nil
		}
	}
}

// New returns a client for the app with the given id, key and secret.
func New(appID, key, secret string, opts ...Option) *Client {
	c := &Client{
		appID:   appID,
		key:     key,
		secret:  secret,
		http:    &http.Client{},
		timeout: DefaultTimeout,
		now:     time.Now,
	}
	c.base, c.baseErr = parseBaseURL(DefaultBaseURL)
	for _, o := range opts {
		o(c)
	}
	return c
}

func parseBaseURL(raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, invalid("base URL", "%q is not an http(s) URL", raw)
	}
	u.Path = strings.TrimSuffix(u.Path, "/")
	u.RawPath, u.RawQuery, u.Fragment = "", "", ""
	return u, nil
}

// appPath returns the path to sign and its escaped form, for the segments
// after /apps/{app_id}/.
func (c *Client) appPath(segments ...string) (plain, escaped string) {
	plain = "/apps/" + c.appID
	escaped = "/apps/" + url.PathEscape(c.appID)
	for _, s := range segments {
		plain += "/" + s
		escaped += "/" + url.PathEscape(s)
	}
	return plain, escaped
}

// do signs and sends one API request and decodes a 2xx JSON answer into out.
func (c *Client) do(ctx context.Context, method string, params map[string]string, body any, out any, segments ...string) error {
	if c.baseErr != nil {
		return c.baseErr
	}
	var payload []byte
	if body != nil {
		var err error
		if payload, err = marshal(body); err != nil {
			return fmt.Errorf("pushi: encoding request: %w", err)
		}
	}
	plain, escaped := c.appPath(segments...)
	ts := strconv.FormatInt(c.now().Unix(), 10)
	query := signRequest(c.key, c.secret, method, plain, params, payload, ts)
	target := c.base.Scheme + "://" + c.base.Host + c.base.EscapedPath() + escaped + "?" + query

	if c.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.timeout)
		defer cancel()
	}
	req, err := http.NewRequestWithContext(ctx, method, target, bytes.NewReader(payload))
	if err != nil {
		return fmt.Errorf("pushi: %w", err)
	}
	if payload != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", "pushi-go-sdk")

	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("pushi: %s %s: %w", method, plain, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes))
	if err != nil {
		return fmt.Errorf("pushi: reading response: %w", err)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return responseError(resp.StatusCode, data)
	}
	if out == nil || len(bytes.TrimSpace(data)) == 0 {
		return nil
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("pushi: decoding response: %w", err)
	}
	return nil
}

// responseError prefers the server's {"error": ...} message; a proxy in front
// of pushi may answer with plain text or HTML instead.
func responseError(status int, body []byte) *Error {
	var e struct {
		Error string `json:"error"`
	}
	if json.Unmarshal(body, &e) == nil && e.Error != "" {
		return &Error{Status: status, Message: e.Error}
	}
	msg := strings.TrimSpace(string(body))
	if len(msg) > 512 {
		msg = msg[:512]
	}
	if msg == "" {
		msg = http.StatusText(status)
	}
	return &Error{Status: status, Message: msg}
}

// marshal is json.Marshal without HTML escaping: event data is size-limited
// and forwarded verbatim, so "<" should stay one byte, not six.
func marshal(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}
