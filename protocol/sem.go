package protocol

import (
	"context"
	"sync"
)

// sem is a binary semaphore that can be waited for under a context: the
// reader's and the message writer's turn. It lives inside Conn and costs no
// allocation unless contended (a channel would cost 96 bytes each, for the
// life of every connection).
type sem struct {
	mu   sync.Mutex
	held bool
	free chan struct{} // closed on release; made by the first waiter
}

// acquire takes the semaphore, waiting until it is released or ctx is
// done. A free semaphore is taken even when ctx is already done.
func (s *sem) acquire(ctx context.Context) error {
	for {
		s.mu.Lock()
		if !s.held {
			s.held = true
			s.mu.Unlock()
			return nil
		}
		if s.free == nil {
			s.free = make(chan struct{})
		}
		free := s.free
		s.mu.Unlock()
		select {
		case <-free:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// tryAcquire takes the semaphore if it is free.
func (s *sem) tryAcquire() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.held {
		return false
	}
	s.held = true
	return true
}

// release gives the semaphore back and wakes its waiters (one of them gets
// it; the others wait again).
func (s *sem) release() {
	s.mu.Lock()
	s.held = false
	if s.free != nil {
		close(s.free)
		s.free = nil
	}
	s.mu.Unlock()
}
