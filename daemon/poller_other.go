//go:build !linux

package daemon

import (
	"errors"
	"log/slog"
)

// poller is Linux-only (epoll); elsewhere idle connections keep their
// goroutine, parked in lazyReader.waitReadable.
type poller struct{}

func newPoller(*slog.Logger) (*poller, error) { return nil, errors.New("no poller on this platform") }

func (*poller) arm(*conn) error { return errors.New("no poller on this platform") }
func (*poller) release(*conn)   {}
func (*poller) run()            {}
func (*poller) shutdown() error { return nil }
