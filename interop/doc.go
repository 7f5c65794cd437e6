// Package interop proves wsd against the WebSocket clients people use:
// headless Chromium (the browser's own WebSocket, driven through
// playwright-core), Node's ws and python-websockets.
//
// The package holds only tests. TestInterop builds the wsd binary, starts
// it on 127.0.0.1 with temporary state directories (one instance per
// compression mode), and runs every client × scenario as its own subtest,
// e.g. TestInterop/node/echo-text. The clients are scripts in node/,
// python/ and browser/; each runs one scenario and prints what it saw as
// JSON, and the Go test asserts it, together with what wsd recorded (the
// session row in SQLite, its log) and what crossed the wire (a byte-counting
// proxy for the compression cases). The server-initiated close is made by
// the operator's tools: wsctl (built CGO_ENABLED=0) with a token minted by
// `wsd token create`.
//
// Requirements: Node.js with `npm ci` run in interop/node (ws and
// playwright-core, no browser download), Debian's chromium and
// python3-websockets (run with /usr/bin/python3). .ci/run installs them.
// Locally a missing client skips its subtests with the command that
// installs it; in CI (CI set) it fails them.
package interop
