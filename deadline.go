package tcpwave

import (
	"sync"
	"time"
)

// deadline is one direction's deadline (a Conn's read or write side, a
// Listener's accept). It holds no channel of its own: a call about to
// block hands it the channel it sleeps on (sleep), and the deadline leaves
// a token there when it passes, or at once when a deadline set while the
// call sleeps has passed already; the call wakes and finds expired true.
// Setting a later deadline, or none, may wake a sleeping call for
// nothing: it checks and sleeps again.
//
// It costs nothing until a call has to block with a deadline set: set only
// records the time, and the timer is made then, once, and reused.
type deadline struct {
	mu    sync.Mutex
	at    time.Time     // the deadline; zero for none
	wake  chan struct{} // the channel of the call sleeping, while one is
	timer *time.Timer   // pokes wake at the deadline; made on first need
	armed bool          // timer is set for at
}

// set sets the deadline; the zero time means none.
func (d *deadline) set(t time.Time) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.at = t
	d.disarm()
	if d.wake != nil {
		d.arm() // a call may be sleeping on wake
	}
}

// arm sets the timer for the deadline, or pokes wake at once if it has
// passed. d.mu is held and wake is set.
func (d *deadline) arm() {
	if d.at.IsZero() || d.armed {
		return
	}
	dur := time.Until(d.at)
	if dur <= 0 {
		poke(d.wake)
		return
	}
	if d.timer == nil {
		d.timer = time.AfterFunc(dur, d.fire)
	} else {
		d.timer.Reset(dur)
	}
	d.armed = true
}

// disarm stops the timer. A timer that fired already may still poke wake:
// a sleeping call wakes for nothing and sleeps again.
func (d *deadline) disarm() {
	if d.armed {
		d.timer.Stop()
		d.armed = false
	}
}

// fire runs when the timer goes off.
func (d *deadline) fire() {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.armed = false
	poke(d.wake)
}

// expired reports whether the deadline has passed.
func (d *deadline) expired() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return !d.at.IsZero() && !time.Now().Before(d.at)
}

// sleep blocks a call on wake (a channel with room for one token) until a
// token comes: readiness, Close, the host stopping, or the deadline
// passing. Once it is awake no call waits, so a later set only records the
// time; a timer still armed for the same deadline stays armed for the next
// sleep and pokes no one in between. It returns nil, as pending.await
// wants of a sleep: the deadline's passing is for expired to tell.
func (d *deadline) sleep(wake chan struct{}) error {
	d.mu.Lock()
	d.wake = wake
	d.arm()
	d.mu.Unlock()
	<-wake
	d.mu.Lock()
	d.wake = nil
	d.mu.Unlock()
	return nil
}

// stop releases the timer.
func (d *deadline) stop() {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.disarm()
}
