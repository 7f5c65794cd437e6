// Package admin is wsd's admin API (PRODUCT.md §4): a chi router that
// serves live connections, session history, the audit log, statistics and
// a Server-Sent Events stream under /v1, to bearers of admin tokens
// (package admin/token) with the right scopes.
//
// The handlers are thin: they decode a request, call the daemon (through
// the Hub interface declared here) or session history (the History
// interface, in the types of package session; the store implements it),
// and encode the wire types of package admin/apitype. Handlers return errors; one function
// renders every error as {"error":{"code":..,"message":..}} with its HTTP
// status (the model of Caddy's admin.go).
//
// Every route is registered with an access policy (a scope, or any valid
// token); a route without one cannot be registered, and a test walks the
// router to check it. The listener is hardened against browsers: the Host
// must be an IP literal, localhost or an allowed name (DNS rebinding), a
// request with an Origin must be same-origin or allowed, WebSocket upgrades
// are refused, and request bodies must be JSON and are capped.
//
// Every mutating call is written to the audit log with the token's
// subject, whether it succeeded or not (dry runs change nothing and are not
// recorded).
//
// Concurrency: a Server is safe for concurrent use. The only goroutines it
// starts are the per-request watchers of GET /v1/events, each owned and
// waited for by its request; Shutdown ends those streams.
package admin
