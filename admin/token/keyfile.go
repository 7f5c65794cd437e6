package token

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"os"
)

// LoadKeyFile reads the verification keys in a file: PEM blocks ("PUBLIC
// KEY", or an Ed25519 "PRIVATE KEY", which also gives a Signer) or a JWK
// Set (RFC 7517: OKP Ed25519, EC P-256, RSA ≥ 2048 bits). Symmetric keys
// are refused: wsd never verifies HMAC tokens. A file holding a private key
// must be readable by its owner only.
func LoadKeyFile(path string) ([]Key, *Signer, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, fmt.Errorf("key file: %w", err)
	}
	if t := bytes.TrimSpace(data); len(t) > 0 && t[0] == '{' {
		keys, err := parseJWKS(t)
		if err != nil {
			return nil, nil, fmt.Errorf("key file %s: %w", path, err)
		}
		return keys, nil, nil
	}
	var (
		keys   []Key
		signer *Signer
	)
	rest := data
	for {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		switch block.Type {
		case "PUBLIC KEY":
			pub, err := x509.ParsePKIXPublicKey(block.Bytes)
			if err != nil {
				return nil, nil, fmt.Errorf("key file %s: %w", path, err)
			}
			k, err := keyForPublic("", pub)
			if err != nil {
				return nil, nil, fmt.Errorf("key file %s: %w", path, err)
			}
			keys = append(keys, k)
		case "PRIVATE KEY":
			s, err := LoadSigner(path) // checks the file's mode
			if err != nil {
				return nil, nil, err
			}
			signer = &s
			keys = append(keys, s.Key())
		default:
			return nil, nil, fmt.Errorf("key file %s: unsupported PEM block %q (want PUBLIC KEY or PRIVATE KEY)", path, block.Type)
		}
	}
	if len(keys) == 0 {
		return nil, nil, fmt.Errorf("key file %s: no key found (want PEM or a JWK Set)", path)
	}
	return keys, signer, nil
}

type jwk struct {
	Kty string `json:"kty"`
	Kid string `json:"kid"`
	Alg string `json:"alg"`
	Use string `json:"use"`
	Crv string `json:"crv"`
	X   string `json:"x"`
	Y   string `json:"y"`
	N   string `json:"n"`
	E   string `json:"e"`
	D   string `json:"d"`
	K   string `json:"k"`
}

func parseJWKS(data []byte) ([]Key, error) {
	var set struct {
		Keys []jwk `json:"keys"`
	}
	if err := json.Unmarshal(data, &set); err != nil {
		return nil, fmt.Errorf("JWK Set: %w", err)
	}
	if len(set.Keys) == 0 {
		return nil, errors.New("JWK Set has no keys")
	}
	keys := make([]Key, 0, len(set.Keys))
	for i, j := range set.Keys {
		k, err := j.key()
		if err != nil {
			return nil, fmt.Errorf("JWK %d (kid %q): %w", i, j.Kid, err)
		}
		keys = append(keys, k)
	}
	return keys, nil
}

func (j jwk) key() (Key, error) {
	if j.Use != "" && j.Use != "sig" {
		return Key{}, fmt.Errorf("use %q: only signature keys are accepted", j.Use)
	}
	if j.D != "" {
		return Key{}, errors.New("private key material in a JWK Set: give public keys only")
	}
	b64 := func(name, s string) ([]byte, error) {
		b, err := base64.RawURLEncoding.Strict().DecodeString(s)
		if err != nil || len(b) == 0 {
			return nil, fmt.Errorf("member %q is not base64url", name)
		}
		return b, nil
	}
	var (
		k   Key
		err error
	)
	switch j.Kty {
	case "OKP":
		if j.Crv != "Ed25519" {
			return Key{}, fmt.Errorf("OKP curve %q: only Ed25519 is accepted", j.Crv)
		}
		x, err := b64("x", j.X)
		if err != nil {
			return Key{}, err
		}
		if len(x) != ed25519.PublicKeySize {
			return Key{}, errors.New("Ed25519 key of the wrong size")
		}
		k, err = keyForPublic(j.Kid, ed25519.PublicKey(x))
		if err != nil {
			return Key{}, err
		}
	case "EC":
		if j.Crv != "P-256" {
			return Key{}, fmt.Errorf("EC curve %q: only P-256 is accepted", j.Crv)
		}
		x, err := b64("x", j.X)
		if err != nil {
			return Key{}, err
		}
		y, err := b64("y", j.Y)
		if err != nil {
			return Key{}, err
		}
		// Check the point through the uncompressed encoding, which
		// crypto/ecdh-backed parsing validates.
		raw := append([]byte{4}, append(pad32(x), pad32(y)...)...)
		pub, perr := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), raw)
		if perr != nil {
			return Key{}, fmt.Errorf("EC key: %w", perr)
		}
		k, err = keyForPublic(j.Kid, pub)
		if err != nil {
			return Key{}, err
		}
	case "RSA":
		n, err := b64("n", j.N)
		if err != nil {
			return Key{}, err
		}
		e, err := b64("e", j.E)
		if err != nil {
			return Key{}, err
		}
		eb := new(big.Int).SetBytes(e)
		if !eb.IsInt64() || eb.Int64() < 3 || eb.Int64() > 1<<31-1 {
			return Key{}, errors.New("RSA exponent out of range")
		}
		k, err = keyForPublic(j.Kid, &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: int(eb.Int64())})
		if err != nil {
			return Key{}, err
		}
	case "oct":
		return Key{}, errors.New("symmetric (oct) keys are refused: wsd verifies asymmetric signatures only")
	default:
		return Key{}, fmt.Errorf("key type %q is not supported", j.Kty)
	}
	if j.Alg != "" && j.Alg != k.Alg {
		return Key{}, fmt.Errorf("alg %q does not fit a %s key (want %s)", j.Alg, j.Kty, k.Alg)
	}
	return k, err
}

// pad32 left-pads a P-256 coordinate to 32 bytes.
func pad32(b []byte) []byte {
	if len(b) >= 32 {
		return b
	}
	return append(make([]byte, 32-len(b)), b...)
}
