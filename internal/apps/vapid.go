package apps

import (
	"crypto/ecdh"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"strings"
)

// GenerateVAPID returns a fresh P-256 pair (docs/features.md §2.4), both
// base64url without padding: the 32-byte private scalar and the 65-byte
// uncompressed public point browsers take as applicationServerKey.
func GenerateVAPID() (private, public string, err error) {
	k, err := ecdh.P256().GenerateKey(rand.Reader)
	if err != nil {
		return "", "", err
	}
	return base64.RawURLEncoding.EncodeToString(k.Bytes()), base64.RawURLEncoding.EncodeToString(k.PublicKey().Bytes()), nil
}

// VAPIDPublicKey derives the public key of a base64url private scalar.
func VAPIDPublicKey(private string) (string, error) {
	k, err := ParseVAPIDPrivateKey(private)
	if err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(k.PublicKey().Bytes()), nil
}

// ParseVAPIDPrivateKey decodes a base64url (padding optional) 32-byte
// P-256 scalar.
func ParseVAPIDPrivateKey(private string) (*ecdh.PrivateKey, error) {
	raw, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(private, "="))
	if err != nil {
		return nil, errors.New("must be base64url")
	}
	if len(raw) != 32 {
		return nil, errors.New("must be a 32-byte P-256 scalar")
	}
	k, err := ecdh.P256().NewPrivateKey(raw)
	if err != nil {
		return nil, errors.New("is not a valid P-256 private key")
	}
	return k, nil
}

// SetVAPID installs a private key (canonical encoding) and its public key.
func (p *WebPush) SetVAPID(private string) error {
	k, err := ParseVAPIDPrivateKey(private)
	if err != nil {
		return err
	}
	p.VAPIDPrivateKey = base64.RawURLEncoding.EncodeToString(k.Bytes())
	p.VAPIDPublicKey = base64.RawURLEncoding.EncodeToString(k.PublicKey().Bytes())
	return nil
}
