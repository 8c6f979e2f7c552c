package tcpwave

import (
	"sync"
	"time"
)

// deadline is one direction's deadline: a channel that is closed when the
// deadline passes, and a timer that closes it. Setting a new deadline
// wakes nobody by itself; a past one closes the channel at once, which
// wakes calls blocked on it (the net.Pipe design).
//
// The zero deadline is none, and holds nothing: the channel is made only
// when a deadline is set or a call is about to block (an idle connection
// without deadlines costs no channel and no timer).
type deadline struct {
	mu     sync.Mutex
	timer  *time.Timer
	cancel chan struct{} // closed when the deadline has passed; nil while not needed
}

// set sets the deadline; the zero time means none.
func (d *deadline) set(t time.Time) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.timer != nil && !d.timer.Stop() {
		<-d.cancel // the timer fired: wait until its function has closed cancel
	}
	d.timer = nil
	closed := d.cancel != nil && isClosedChan(d.cancel)
	if closed {
		// A blocked call holds the closed channel and has been woken by
		// it; the next one gets a new channel.
		d.cancel = nil
	}
	if t.IsZero() {
		return
	}
	if d.cancel == nil {
		d.cancel = make(chan struct{})
	}
	if dur := time.Until(t); dur > 0 {
		cancel := d.cancel
		d.timer = time.AfterFunc(dur, func() { close(cancel) })
		return
	}
	close(d.cancel)
}

// expired reports whether the deadline has passed.
func (d *deadline) expired() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.cancel != nil && isClosedChan(d.cancel)
}

// wait returns the channel that is closed once the deadline passes, for a
// call about to block: it stays open while there is no deadline, and a
// deadline set later closes it when it passes.
func (d *deadline) wait() chan struct{} {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.cancel == nil {
		d.cancel = make(chan struct{})
	}
	return d.cancel
}

// stop releases the timer.
func (d *deadline) stop() {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.timer != nil && !d.timer.Stop() {
		<-d.cancel
	}
	d.timer = nil
}
