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
// It costs nothing until a call has to block: set only records the time,
// and the channel and the timer are made by wait, for a call about to
// block, or by set when one may be blocked already (the channel exists).
// A connection whose calls never wait, or that sets no deadline, has no
// channel and no timer.
type deadline struct {
	mu     sync.Mutex
	at     time.Time     // the deadline; zero for none
	timer  *time.Timer   // closes cancel at the deadline, once armed
	cancel chan struct{} // closed when the deadline has passed; nil until a call waits
}

// set sets the deadline; the zero time means none.
func (d *deadline) set(t time.Time) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.timer != nil && !d.timer.Stop() {
		<-d.cancel // the timer fired: wait until its function has closed cancel
	}
	d.timer = nil
	if d.cancel != nil && isClosedChan(d.cancel) {
		// A blocked call holds the closed channel and has been woken by
		// it; the next one gets a new channel.
		d.cancel = nil
	}
	d.at = t
	if d.cancel != nil {
		d.arm() // a call may be waiting on cancel
	}
}

// arm makes cancel close at the deadline, at once if it has passed. d.mu
// is held and cancel is open.
func (d *deadline) arm() {
	if d.at.IsZero() || d.timer != nil {
		return
	}
	dur := time.Until(d.at)
	if dur <= 0 {
		close(d.cancel)
		return
	}
	cancel := d.cancel
	d.timer = time.AfterFunc(dur, func() { close(cancel) })
}

// expired reports whether the deadline has passed.
func (d *deadline) expired() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.at.IsZero() {
		return false
	}
	if d.cancel != nil && isClosedChan(d.cancel) {
		return true
	}
	return !time.Now().Before(d.at)
}

// wait returns the channel that is closed once the deadline passes, for a
// call about to block; it arms the timer. The channel stays open while
// there is no deadline, and a deadline set later closes it when it
// passes.
func (d *deadline) wait() chan struct{} {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.cancel == nil {
		d.cancel = make(chan struct{})
	}
	if !isClosedChan(d.cancel) {
		d.arm()
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
