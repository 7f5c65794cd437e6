package main

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
	"net/http"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/wsd-dev/wsd/admin/client"
	"github.com/wsd-dev/wsd/protocol"
)

// testCert writes a self-signed certificate for 127.0.0.1 with serial to
// dir/name.pem and dir/name.key and returns the pool that trusts it.
func testCert(t *testing.T, dir, name string, serial int64) (certFile, keyFile string, pool *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(serial),
		Subject:               pkix.Name{CommonName: "wsd test"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, name+".pem"), filepath.Join(dir, name+".key")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool = x509.NewCertPool()
	pool.AddCert(c)
	return certFile, keyFile, pool
}

// TestTLS: wss:// and https:// with a certificate made by the test, from
// our client and gorilla's; SIGHUP swaps in a renewed certificate for new
// connections while an open one keeps working (PRODUCT.md §12, issue 21).
func TestTLS(t *testing.T) {
	dir, certs := t.TempDir(), t.TempDir()
	cert, key, pool1 := testCert(t, certs, "ws", 1)
	acert, akey, apool := testCert(t, certs, "admin", 2)
	w := startWSD(t, wsdOpts{stateDir: dir, args: []string{"--tls-cert", cert, "--tls-key", key,
		"--admin-tls-cert", acert, "--admin-tls-key", akey, "--route", "/echo=echo"}})
	ctx := t.Context()
	url := "wss://" + w.Addr + "/echo"

	c, _, err := protocol.Dial(ctx, url, &protocol.DialOptions{TLSConfig: &tls.Config{RootCAs: pool1}})
	if err != nil {
		t.Fatalf("wss dial: %v", err)
	}
	defer c.CloseNow()
	echo := func(c *protocol.Conn, msg string) {
		t.Helper()
		if err := c.Write(ctx, protocol.TextMessage, []byte(msg)); err != nil {
			t.Fatal(err)
		}
		_, got, err := c.Read(ctx)
		if err != nil || string(got) != msg {
			t.Fatalf("echo %q: %q %v", msg, got, err)
		}
	}
	echo(c, "over tls")

	g := websocket.Dialer{TLSClientConfig: &tls.Config{RootCAs: pool1}, HandshakeTimeout: 10 * time.Second}
	gc, _, err := g.DialContext(ctx, url, nil)
	if err != nil {
		t.Fatalf("gorilla wss dial: %v", err)
	}
	gc.Close()
	if _, _, err := protocol.Dial(ctx, "ws://"+w.Addr+"/echo", nil); err == nil {
		t.Fatal("plain ws:// to a TLS listener succeeded")
	}

	// The admin listener over https, verified against its own certificate.
	adminTok := mintToken(t, "--subject", "ops", "--scope", "admin", "--state-dir", dir)
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: apool}}, Timeout: 10 * time.Second}
	ac, err := client.New("https://"+w.Admin, adminTok, &client.Options{HTTPClient: hc})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ac.Stats(ctx); err != nil {
		t.Fatalf("admin over https: %v", err)
	}

	// Renew the WebSocket certificate in place and reload.
	from := w.LogCount()
	if _, _, err := func() (string, string, error) {
		c2, k2, _ := testCert(t, t.TempDir(), "ws", 3)
		for src, dst := range map[string]string{c2: cert, k2: key} {
			b, err := os.ReadFile(src)
			if err != nil {
				return "", "", err
			}
			if err := os.WriteFile(dst, b, 0o600); err != nil {
				return "", "", err
			}
		}
		return "", "", nil
	}(); err != nil {
		t.Fatal(err)
	}
	w.signal(syscall.SIGHUP)
	w.waitLogAfter(from, "reloaded", 10*time.Second)
	var serial int64
	probe := &tls.Config{InsecureSkipVerify: true, VerifyConnection: func(cs tls.ConnectionState) error {
		serial = cs.PeerCertificates[0].SerialNumber.Int64()
		return nil
	}}
	deadline := time.Now().Add(10 * time.Second)
	for {
		tc, err := tls.Dial("tcp", w.Addr, probe)
		if err != nil {
			t.Fatal(err)
		}
		tc.Close()
		if serial == 3 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after SIGHUP new connections still get certificate %d, want 3", serial)
		}
	}
	echo(c, "still open after the reload")
}
