package sender

import (
	"testing"

	"github.com/wsd-dev/wsd/protocol"
)

func TestSendQueue(t *testing.T) {
	var q queue
	for i := range 100 {
		q.push(item{kind: protocol.TextMessage, data: []byte{byte(i)}, at: int64(i + 1)})
		if i%3 == 0 {
			it, ok := q.pop()
			if !ok {
				t.Fatal("pop from non-empty queue")
			}
			_ = it
		}
	}
	if q.oldest() == 0 {
		t.Fatal("oldest of a non-empty queue")
	}
	prev := -1
	for {
		it, ok := q.pop()
		if !ok {
			break
		}
		if int(it.data[0]) <= prev {
			t.Fatal("out of order")
		}
		prev = int(it.data[0])
	}
	if q.items != nil || q.len() != 0 || q.oldest() != 0 {
		t.Fatal("empty queue keeps storage")
	}
}
