package protocol

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"
)

func TestSem(t *testing.T) {
	var s sem
	if !s.tryAcquire() || s.tryAcquire() {
		t.Fatal("tryAcquire: want true then false")
	}
	// A waiter gives up with its context.
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if err := s.acquire(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("acquire while held = %v, want deadline exceeded", err)
	}
	// A free semaphore is taken even under a done context.
	s.release()
	if err := s.acquire(ctx); err != nil {
		t.Fatalf("acquire when free under a done context = %v", err)
	}
	s.release()

	// Mutual exclusion under contention: many goroutines, one at a time.
	const workers, rounds = 8, 500
	var inside, most int
	var mu sync.Mutex
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range rounds {
				if err := s.acquire(context.Background()); err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				inside++
				if inside > most {
					most = inside
				}
				mu.Unlock()
				mu.Lock()
				inside--
				mu.Unlock()
				s.release()
			}
		}()
	}
	wg.Wait()
	if most != 1 {
		t.Fatalf("%d holders at once", most)
	}
	if !s.tryAcquire() {
		t.Fatal("not free after all releases")
	}
}
