package token

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
)

// Algorithms a key may be pinned to.
const (
	AlgEdDSA = "EdDSA"
	AlgES256 = "ES256"
	AlgRS256 = "RS256"
)

// minRSABits is the smallest RSA key accepted (RFC 7518 §3.3).
const minRSABits = 2048

// Key is a verification key pinned to one algorithm. ID, if set, must
// match the "kid" header of the tokens it verifies.
type Key struct {
	ID     string
	Alg    string
	Public crypto.PublicKey
}

// keyForPublic pins a public key to the algorithm of its type.
func keyForPublic(id string, pub crypto.PublicKey) (Key, error) {
	switch k := pub.(type) {
	case ed25519.PublicKey:
		return Key{ID: id, Alg: AlgEdDSA, Public: k}, nil
	case *ecdsa.PublicKey:
		if k.Curve != elliptic.P256() {
			return Key{}, fmt.Errorf("ECDSA key on curve %s: only P-256 (ES256) is accepted", k.Curve.Params().Name)
		}
		return Key{ID: id, Alg: AlgES256, Public: k}, nil
	case *rsa.PublicKey:
		if k.N.BitLen() < minRSABits {
			return Key{}, fmt.Errorf("RSA key of %d bits: at least %d are required", k.N.BitLen(), minRSABits)
		}
		return Key{ID: id, Alg: AlgRS256, Public: k}, nil
	}
	return Key{}, fmt.Errorf("unsupported key type %T", pub)
}

// KeyID returns a stable id for an Ed25519 public key: the first 8 bytes of
// its SHA-256, base64url. Tokens minted with the key carry it as "kid".
func KeyID(pub ed25519.PublicKey) string {
	sum := sha256.Sum256(pub)
	return base64.RawURLEncoding.EncodeToString(sum[:8])
}

// Signer is an Ed25519 private key that mints tokens.
type Signer struct {
	Private ed25519.PrivateKey
}

// Key returns the verification key of the signer.
func (s Signer) Key() Key {
	pub := s.Private.Public().(ed25519.PublicKey)
	return Key{ID: KeyID(pub), Alg: AlgEdDSA, Public: pub}
}

// LoadOrCreateKey reads the Ed25519 private key in path, or generates one
// and writes it there (PKCS #8 PEM, mode 0600) if the file does not exist.
// A key file that others may read (any group or other permission bit) is
// refused. created reports whether the key was generated.
func LoadOrCreateKey(path string) (s Signer, created bool, err error) {
	s, err = LoadSigner(path)
	if err == nil || !errors.Is(err, fs.ErrNotExist) {
		return s, false, err
	}
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return Signer{}, false, fmt.Errorf("generate key: %w", err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return Signer{}, false, fmt.Errorf("generate key: %w", err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) { // created meanwhile by another process
		s, err = LoadSigner(path)
		return s, false, err
	}
	if err != nil {
		return Signer{}, false, fmt.Errorf("write key: %w", err)
	}
	werr := pem.Encode(f, &pem.Block{Type: "PRIVATE KEY", Bytes: der})
	if werr == nil {
		werr = f.Sync()
	}
	if err := errors.Join(werr, f.Close()); err != nil {
		return Signer{}, false, errors.Join(fmt.Errorf("write key %s: %w", path, err), os.Remove(path))
	}
	return Signer{Private: priv}, true, nil
}

// LoadSigner reads an Ed25519 private key from a PEM file that only its
// owner may read.
func LoadSigner(path string) (Signer, error) {
	data, err := readPrivateFile(path)
	if err != nil {
		return Signer{}, err
	}
	block, _ := pem.Decode(data)
	if block == nil || block.Type != "PRIVATE KEY" {
		return Signer{}, fmt.Errorf("key %s: no PEM \"PRIVATE KEY\" block", path)
	}
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return Signer{}, fmt.Errorf("key %s: %w", path, err)
	}
	priv, ok := k.(ed25519.PrivateKey)
	if !ok {
		return Signer{}, fmt.Errorf("key %s: %T is not an Ed25519 key", path, k)
	}
	return Signer{Private: priv}, nil
}

// readPrivateFile reads a file holding a secret, refusing it when its mode
// lets anyone but its owner read it.
func readPrivateFile(path string) ([]byte, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("key: %w", err)
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		return nil, fmt.Errorf("key %s: mode %v lets others read a private key; chmod 600 it", path, perm)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("key: %w", err)
	}
	return data, nil
}
