package token

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestLoadOrCreateKey(t *testing.T) {
	path := filepath.Join(t.TempDir(), "admin.key")
	s1, created, err := LoadOrCreateKey(path)
	if err != nil || !created {
		t.Fatalf("first start: created %v, err %v", created, err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if perm := fi.Mode().Perm(); perm != 0o600 {
		t.Fatalf("key file mode %v, want 0600", perm)
	}
	s2, created, err := LoadOrCreateKey(path)
	if err != nil || created {
		t.Fatalf("second start: created %v, err %v", created, err)
	}
	if !s1.Private.Equal(s2.Private) {
		t.Fatal("the key changed between starts")
	}
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, _, err := LoadOrCreateKey(path); err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Fatalf("world-readable key: %v", err)
	}
}

func TestLoadKeyFile(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string, mode os.FileMode) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), mode); err != nil {
			t.Fatal(err)
		}
		return p
	}
	s := newSigner(t)
	der, err := x509.MarshalPKIXPublicKey(s.Key().Public)
	if err != nil {
		t.Fatal(err)
	}
	ec, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	ecDER, err := x509.MarshalPKIXPublicKey(&ec.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	pems := string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})) + string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: ecDER}))
	keys, signer, err := LoadKeyFile(write("pub.pem", pems, 0o644))
	if err != nil || signer != nil || len(keys) != 2 || keys[0].Alg != AlgEdDSA || keys[1].Alg != AlgES256 {
		t.Fatalf("PEM: %+v %v %v", keys, signer, err)
	}

	x := base64.RawURLEncoding.EncodeToString([]byte(s.Key().Public.(ed25519.PublicKey)))
	keys, _, err = LoadKeyFile(write("jwks.json", `{"keys":[{"kty":"OKP","crv":"Ed25519","kid":"k1","x":"`+x+`","alg":"EdDSA"}]}`, 0o644))
	if err != nil || len(keys) != 1 || keys[0].ID != "k1" || keys[0].Alg != AlgEdDSA {
		t.Fatalf("JWKS: %+v %v", keys, err)
	}

	for name, content := range map[string]string{
		"hmac":      `{"keys":[{"kty":"oct","k":"c2VjcmV0c2VjcmV0c2VjcmV0"}]}`,
		"alg lie":   `{"keys":[{"kty":"OKP","crv":"Ed25519","x":"` + x + `","alg":"HS256"}]}`,
		"private":   `{"keys":[{"kty":"OKP","crv":"Ed25519","x":"` + x + `","d":"` + x + `"}]}`,
		"empty":     `{"keys":[]}`,
		"not a key": "hello",
	} {
		if _, _, err := LoadKeyFile(write("bad.json", content, 0o644)); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}

	priv, err := x509.MarshalPKCS8PrivateKey(s.Private)
	if err != nil {
		t.Fatal(err)
	}
	privPEM := string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: priv}))
	if _, _, err := LoadKeyFile(write("open.pem", privPEM, 0o644)); err == nil {
		t.Fatal("world-readable private key accepted")
	}
	keys, signer, err = LoadKeyFile(write("priv.pem", privPEM, 0o600))
	if err != nil || signer == nil || len(keys) != 1 || keys[0].ID != s.Key().ID {
		t.Fatalf("private PEM: %+v %v %v", keys, signer, err)
	}
}
