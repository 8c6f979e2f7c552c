package conform

import (
	"context"
	"strings"
	"testing"
	"time"
)

// slowBackend is a host on wall time that never does anything: its Wait
// sleeps until the time asked for, as the kernel's does.
type slowBackend struct{ start time.Time }

func (b *slowBackend) Name() string        { return "slow" }
func (b *slowBackend) Now() time.Duration  { return time.Since(b.start) }
func (b *slowBackend) Inject([]byte) error { return nil }
func (b *slowBackend) Shell(string) error  { return nil }
func (b *slowBackend) Close() error        { return nil }
func (b *slowBackend) Start(c *Call) error { return nil }
func (b *slowBackend) Wait(until time.Duration) (*Happening, error) {
	if d := until - b.Now(); d > 0 {
		time.Sleep(d)
	}
	return nil, nil
}

// RunContext stops a script that waits an hour on a wall-clock host soon
// after its context ends, and says why.
func TestRunContextStops(t *testing.T) {
	s, err := Parse("slow.pkt", "0 < S 0:0(0) win 65535\n+3600 < . 1:1(0) ack 1 win 65535\n")
	if err != nil {
		t.Fatal(err)
	}
	open := func(*Script) (Backend, error) { return &slowBackend{start: time.Now()}, nil }
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan Result, 1)
	go func() { done <- RunContext(ctx, s, "slow", open, nil) }()
	time.Sleep(50 * time.Millisecond)
	cancel()
	select {
	case res := <-done:
		if res.Pass || !strings.Contains(res.Error, "context canceled") {
			t.Errorf("result %+v, want a failure that says the context was canceled", res)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the run goes on 5 s after its context ended")
	}
}
