// Package token mints and verifies wsd's JSON Web Tokens (PRODUCT.md §5):
// admin tokens, which carry scopes for the admin API, and client tokens,
// which a WebSocket client presents at its upgrade and which carry the
// client's user and labels.
//
// Verification follows RFC 8725: the algorithm is pinned per key (EdDSA
// for the key wsd generates; ES256 or RS256 only for keys given that way),
// exp is required, iss and aud are checked, iat and nbf may not lie in the
// future beyond a small leeway, base64 is decoded strictly, and a token
// longer than MaxTokenBytes is refused before any parsing. There is no
// symmetric (HMAC) key and no "none": a token signed that way can never
// verify.
//
// Keys: LoadOrCreateKey keeps an Ed25519 private key in a PEM file of mode
// 0600 (generated at first start); LoadKeyFile reads public keys (PEM or
// JWKS) of tokens minted elsewhere. A Verifier's keys can be replaced at
// run time (SetKeys, for SIGHUP); it is safe for concurrent use.
package token
