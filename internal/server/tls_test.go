package server

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/gobwas/ws"
)

// writeSelfSigned writes a throwaway certificate for 127.0.0.1.
func writeSelfSigned(t *testing.T) (certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "pushi-test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, _ := x509.MarshalECPrivateKey(key)
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), 0o600)
	return certFile, keyFile
}

// TLS connections cannot be read by the epoll poller, so they take the
// reader-goroutine path: the same protocol must hold there.
func TestTLSWebSocketUsesReaderGoroutine(t *testing.T) {
	cert, key := writeSelfSigned(t)
	s := startServer(t, map[string]string{"SERVER_HOST": "127.0.0.2", "SERVER_SSL": "1", "SERVER_SSL_CER": cert, "SERVER_SSL_KEY": key})
	c := dialWith(t, ws.Dialer{Timeout: 5 * time.Second, TLSConfig: &tls.Config{InsecureSkipVerify: true}}, "wss://"+s.Addr("ws").String()+"/app/key-basic?protocol=7")
	c.expectEvent("pusher:connection_established")
	c.sendText(`{"event":"pusher:ping","data":{}}`)
	c.expectRaw(`{"event":"pusher:pong","data":"{}"}`)
	c.subscribe("tls-news", nil)
	status, _ := s.trigger(t, "key-basic", "secret-basic", "100001", map[string]any{"name": "e", "channel": "tls-news", "data": "over tls"})
	if status != 200 {
		t.Fatalf("trigger: %d", status)
	}
	c.expectRaw(`{"event":"e","channel":"tls-news","data":"over tls"}`)
	c.sendText(`{"event":"pusher:subscribe","data":{"channel":` + `"bad name"}}`)
	c.expectEvent("pusher:subscription_error")
	c.send("client-x", map[string]any{})
	c.expectEvent("pusher:error")
}
