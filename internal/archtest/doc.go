// Package archtest holds one test, TestArrows, that enforces every
// dependency arrow of ARCHITECTURE.md with `go list -deps`: which packages
// may link what, that protocol, session and apitype need the standard
// library only, that wsctl links no cgo and lists for every platform it
// ships on. The package has no other code; the product never imports it.
package archtest
