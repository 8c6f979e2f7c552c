package stack

import "github.com/tcpwave/tcpwave/clock"

// A driver (a host on a real link, the simulator, conform's backend) runs
// the same loop around a Stack: run the timers that are due, send every
// packet the stack has, then let the calls that wait on sockets whose
// readiness changed finish or try again; a call that finishes may leave
// segments to send or wake other sockets, so the loop goes round until
// nothing moves. Step, Settle and Drain are that loop, at three sizes;
// Pump is the driver's side of it.

// Pump is what a driver gives Step, Settle and Drain: where packets go and
// who hears of sockets whose readiness may have changed.
type Pump struct {
	// Buf receives each packet: it must hold Options.MTU bytes, or
	// Options.GSOMaxSize with GSO.
	Buf []byte
	// GSO takes TCP super-packets (PollPacketGSO) instead of packets
	// (PollPacket).
	GSO bool
	// Budget, if positive, bounds the packets one Step or Settle sends:
	// a driver that must let other work in (a host's lock) sends the rest
	// on its next step. Drain ignores it.
	Budget int
	// MaxRounds, if positive, bounds Settle's rounds (a driver's guard
	// against a call that reports progress forever); 0 means
	// defaultMaxRounds.
	MaxRounds int
	// Send takes one packet, valid only until Send returns, and with GSO
	// its segment size (0 for a plain packet). It must not call back into
	// the Stack. It may set Buf to another buffer of the same length (a
	// driver that hands the packet's buffer to its link): the next packet
	// is built there.
	Send func(pkt []byte, segSize int)
	// Ready, if set, gets the sockets whose readiness may have changed
	// (Touched; the slice is valid until it returns) and finishes or
	// retries the calls that wait on them, or on anything; it may call the
	// Stack. It reports whether a call finished or was retried, which may
	// have left more to send: Settle then goes round again.
	Ready func(touched []*Socket) bool
}

// defaultMaxRounds is Settle's bound on its rounds when Pump.MaxRounds is 0.
const defaultMaxRounds = 1000

// Step is one turn of a driver's loop at now: it runs the timers due at
// now (HandleTimeout), then Settle. It returns the packets it sent; with
// a Pump.Budget, as many as the budget says that the stack may have more
// to send.
func (s *Stack) Step(now clock.Instant, p *Pump) int {
	if s.Deadline() <= now {
		s.HandleTimeout(now)
	}
	return s.Settle(now, p)
}

// Settle runs Drain rounds at now until a round's Pump.Ready reports no
// progress, or MaxRounds rounds have run, without running timers. It
// returns the packets it sent; past Pump.Budget it sends no more, but
// Ready still hears of every touched socket.
func (s *Stack) Settle(now clock.Instant, p *Pump) int {
	rounds := p.MaxRounds
	if rounds <= 0 {
		rounds = defaultMaxRounds
	}
	sent := 0
	for range rounds {
		limit := -1
		if p.Budget > 0 {
			limit = p.Budget - sent
		}
		n, progress := s.drain(now, p, limit)
		sent += n
		if !progress {
			break
		}
	}
	return sent
}

// Drain is one round of a driver's loop at now: it hands every packet the
// stack has to send to Pump.Send, then the sockets whose readiness may
// have changed to Pump.Ready (or forgets them without one). It returns the
// packets it sent and what Ready reported. A driver of several stacks
// that interleaves their rounds (the simulator) calls it directly.
func (s *Stack) Drain(now clock.Instant, p *Pump) (sent int, progress bool) {
	return s.drain(now, p, -1)
}

// drain is Drain sending at most limit packets (no limit when negative).
func (s *Stack) drain(now clock.Instant, p *Pump, limit int) (sent int, progress bool) {
	for sent != limit {
		var n, size int
		if p.GSO {
			n, size = s.PollPacketGSO(now, p.Buf)
		} else {
			n = s.PollPacket(now, p.Buf)
		}
		if n == 0 {
			break
		}
		sent++
		p.Send(p.Buf[:n], size)
	}
	touched := s.Touched()
	if p.Ready == nil {
		return sent, false
	}
	return sent, p.Ready(touched)
}
