package scenario

import (
	"fmt"
	"time"

	"github.com/tcpwave/tcpwave/sim"
	"github.com/tcpwave/tcpwave/stack"
	"github.com/tcpwave/tcpwave/wire"
)

// closeScript is the four-way close of the seeds' experiment: A closes at
// 1 s; B reads EOF and closes wait later. B uses linger when set.
func closeScript(r *Run, wait time.Duration, linger bool) {
	l := serve(r, func(c *stack.Socket) {
		r.ReadToEnd(r.B, c, func(string, error) {
			r.After(wait, func() {
				if linger {
					c.SetLinger(true, 10*time.Second)
					r.Close(r.B, c)
					// SO_LINGER {on, 10}: close waits for the FIN's fate.
					r.when(c, func() bool { return !c.Closing() }, func() {
						r.app(r.B, "close(linger) finished", ErrName(c.Err()))
					})
					return
				}
				r.Close(r.B, c)
			})
		})
	})
	r.Dial(r.A, r.B, Port, func(so *stack.Socket) {
		r.At(1, func() { r.Close(r.A, so) })
	})
	stopListener(r, l, 5)
}

func pureACK(p *wire.Packet) bool { return p.TCP.Flags == wire.ACK && len(p.Payload) == 0 }

func closeThenData() *Scenario {
	return &Scenario{
		Name:    "close-then-data",
		Summary: "A close()s (not shutdown); B's later data draws RST; B's read gives EOF, its write EPIPE",
		Seeds:   "Linux behaviour behind 001's SHUT_WR/close distinction",
		Play: func(r *Run) {
			l := serve(r, func(c *stack.Socket) {
				r.ReadToEnd(r.B, c, func(string, error) {
					r.After(500*time.Millisecond, func() { r.Write(r.B, c, "late data") })
					r.After(600*time.Millisecond, func() {
						r.Read(r.B, c, func(string, error) {
							r.Write(r.B, c, "again")
							r.Close(r.B, c)
						})
					})
				})
			})
			r.Dial(r.A, r.B, Port, func(so *stack.Socket) {
				r.At(1, func() { r.Close(r.A, so) })
			})
			stopListener(r, l, 5)
		},
		Check: func(r *Run) error {
			return all(
				expectWireFrom(r, "A>B F. 1:1(0) ack 1", "B>A . 1:1(0) ack 2", "B>A P. 1:10(9) ack 2", "A>B R 2:2(0)"),
				expectStates(r, "A", 0, "CLOSED,SYN_SENT,ESTABLISHED,FIN_WAIT_1,FIN_WAIT_2,CLOSED"),
				expectStates(r, "B", 0, "LISTEN,SYN_RCVD,ESTABLISHED,CLOSE_WAIT,CLOSED"),
				// Linux: a RST in CLOSE_WAIT sets EPIPE; read still returns 0
				// because the FIN came first (SCENARIOS.md, Linux details).
				expectApps(r, "B", "bind+listen(:80)=0", "accept=0", "read=EOF", "write(9)=9", "read=EOF", "write(5)=EPIPE", "close=0", "close=0"),
			)
		},
	}
}

func lostFin1() *Scenario {
	return &Scenario{
		Name:    "lost-fin-1",
		Summary: "every FIN from A is lost: a tail loss probe, RTO backoff, then A gives up silently once tcp_orphan_retries (8) backoffs' worth of time has passed",
		Seeds:   "002",
		Play: func(r *Run) {
			r.Net.AddRule(&sim.Rule{From: "A", Match: sim.MatchFlags(wire.FIN, false), Count: -1})
			var srv *stack.Socket
			l := serve(r, func(c *stack.Socket) { srv = c })
			r.Dial(r.A, r.B, Port, func(so *stack.Socket) {
				r.At(1, func() { r.Close(r.A, so) })
			})
			// B, which never heard the FIN, closes much later: A has forgotten
			// the connection and answers with RST.
			r.At(300, func() { r.Close(r.B, srv) })
			stopListener(r, l, 301)
		},
		Check: func(r *Run) error {
			// As Linux (conformance/lost-fin-1.pkt): the first copy is a
			// tail loss probe at the RTO, the RTO runs again from it, then
			// backs off. The limit is time: what 8 backoffs from 200 ms take
			// (102.2 s), from the first RTO retransmission; the timer finds
			// it passed at the expiry after the eighth.
			times := r.SendTimes("A", "F. 1:1(0) ack 1")
			if len(times) != 10 {
				return fmt.Errorf("A sent its FIN %d times, want 10 (the FIN, a probe, 8 RTO retransmissions)", len(times))
			}
			if probe, first := times[1].Sub(times[0]), times[2].Sub(times[1]); first != probe {
				return fmt.Errorf("the first RTO retransmission came %v after the probe, want %v (the RTO restarts from the probe)", first, probe)
			}
			for i := 3; i < len(times); i++ {
				prev, gap := times[i-1].Sub(times[i-2]), times[i].Sub(times[i-1])
				if gap != 2*prev {
					return fmt.Errorf("FIN retransmission %d came %v after the previous, want %v (exponential backoff)", i, gap, 2*prev)
				}
			}
			if n := len(r.Lost()); n != 10 {
				return fmt.Errorf("%d segments lost, want 10", n)
			}
			return all(
				expectStates(r, "A", 0, "CLOSED,SYN_SENT,ESTABLISHED,FIN_WAIT_1,CLOSED"),
				expectWireFrom(r, "B>A F. 1:1(0) ack 1", "A>B R 1:1(0)"),
				expectStates(r, "B", 0, "LISTEN,SYN_RCVD,ESTABLISHED,FIN_WAIT_1,CLOSED"),
			)
		},
	}
}

func lostAck2() *Scenario {
	return &Scenario{
		Name:    "lost-ack-2",
		Summary: "B's ACK of A's FIN is lost: A retransmits the FIN, B in CLOSE_WAIT ACKs the duplicate",
		Seeds:   "002",
		Play: func(r *Run) {
			r.Net.AddRule(&sim.Rule{From: "B", Match: pureACK, Nth: 1})
			closeScript(r, time.Second, false)
		},
		Check: func(r *Run) error {
			return all(
				expectWireFrom(r, "A>B F. 1:1(0) ack 1", "B>A . 1:1(0) ack 2", "A>B F. 1:1(0) ack 1",
					"B>A . 1:1(0) ack 2", "B>A F. 1:1(0) ack 2", "A>B . 2:2(0) ack 2"),
				sameList("lost", r.Lost(), []string{"B>A . 1:1(0) ack 2"}),
				expectStates(r, "A", 0, "CLOSED,SYN_SENT,ESTABLISHED,FIN_WAIT_1,FIN_WAIT_2,TIME_WAIT,CLOSED"),
				expectStates(r, "B", 0, "LISTEN,SYN_RCVD,ESTABLISHED,CLOSE_WAIT,LAST_ACK,CLOSED"),
			)
		},
	}
}

func lostFin3() *Scenario {
	return &Scenario{
		Name:    "lost-fin-3",
		Summary: "B's FIN is lost: B retransmits it from LAST_ACK on RTO; A in FIN_WAIT_2 ACKs it",
		Seeds:   "002",
		Play: func(r *Run) {
			r.Net.AddRule(&sim.Rule{From: "B", Match: sim.MatchFlags(wire.FIN, false), Nth: 1})
			closeScript(r, time.Second, false)
		},
		Check: func(r *Run) error {
			return all(
				expectWireFrom(r, "A>B F. 1:1(0) ack 1", "B>A . 1:1(0) ack 2", "B>A F. 1:1(0) ack 2",
					"B>A F. 1:1(0) ack 2", "A>B . 2:2(0) ack 2"),
				sameList("lost", r.Lost(), []string{"B>A F. 1:1(0) ack 2"}),
				expectStates(r, "A", 0, "CLOSED,SYN_SENT,ESTABLISHED,FIN_WAIT_1,FIN_WAIT_2,TIME_WAIT,CLOSED"),
				expectStates(r, "B", 0, "LISTEN,SYN_RCVD,ESTABLISHED,CLOSE_WAIT,LAST_ACK,CLOSED"),
			)
		},
	}
}

// lastACK drops A's second pure ACK: the first is the handshake's.
func lastACK(r *Run) {
	r.Net.AddRule(&sim.Rule{From: "A", Match: pureACK, Nth: 2})
}

func lostAck4() *Scenario {
	return &Scenario{
		Name:    "lost-ack-4",
		Summary: "A's last ACK is lost: B retransmits its FIN; A in TIME_WAIT ACKs again and restarts 2MSL",
		Seeds:   "000, 002",
		Play: func(r *Run) {
			lastACK(r)
			closeScript(r, time.Second, false)
		},
		Check: func(r *Run) error {
			acks := r.SendTimes("A", ". 2:2(0) ack 2")
			closed, err := stateTime(r, "A", 0, "CLOSED")
			if err != nil {
				return err
			}
			if len(acks) != 2 || closed.Sub(acks[1]) != 60*time.Second {
				return fmt.Errorf("A's final ACKs at %v and CLOSED at %v: want two ACKs and CLOSED 60s after the second", acks, closed)
			}
			return all(
				expectWireFrom(r, "B>A F. 1:1(0) ack 2", "A>B . 2:2(0) ack 2", "B>A F. 1:1(0) ack 2", "A>B . 2:2(0) ack 2"),
				sameList("lost", r.Lost(), []string{"A>B . 2:2(0) ack 2"}),
				expectStates(r, "A", 0, "CLOSED,SYN_SENT,ESTABLISHED,FIN_WAIT_1,FIN_WAIT_2,TIME_WAIT,CLOSED"),
				expectStates(r, "B", 0, "LISTEN,SYN_RCVD,ESTABLISHED,CLOSE_WAIT,LAST_ACK,CLOSED"),
			)
		},
	}
}

func noTimeWait() *Scenario {
	return &Scenario{
		Name:    "no-time-wait",
		Summary: "lost-ack-4 with TIME_WAIT 0: A has forgotten, the retransmitted FIN draws RST, B's close fails",
		Seeds:   "000, 002",
		Tune:    func(p *Params) { p.A.TCP.TimeWait = 0 },
		Play: func(r *Run) {
			lastACK(r)
			closeScript(r, time.Second, true)
		},
		Check: func(r *Run) error {
			return all(
				expectWireFrom(r, "B>A F. 1:1(0) ack 2", "A>B . 2:2(0) ack 2", "B>A F. 1:1(0) ack 2", "A>B R 2:2(0)"),
				expectStates(r, "A", 0, "CLOSED,SYN_SENT,ESTABLISHED,FIN_WAIT_1,FIN_WAIT_2,TIME_WAIT,CLOSED"),
				expectStates(r, "B", 0, "LISTEN,SYN_RCVD,ESTABLISHED,CLOSE_WAIT,LAST_ACK,CLOSED"),
				expectApps(r, "B", "bind+listen(:80)=0", "accept=0", "read=EOF", "close=0", "close(linger) finished=ECONNRESET", "close=0"),
			)
		},
	}
}

func finWait2Timeout() *Scenario {
	return &Scenario{
		Name:    "fin-wait-2-timeout",
		Summary: "B never closes: A's close()d connection leaves FIN_WAIT_2 after 60 s; a shutdown(SHUT_WR) one waits",
		Seeds:   "000, 001, 002",
		Play: func(r *Run) {
			var srv []*stack.Socket
			l := serve(r, func(c *stack.Socket) { srv = append(srv, c) })
			r.Dial(r.A, r.B, Port, func(so *stack.Socket) {
				r.At(1, func() { r.Close(r.A, so) })
			})
			r.At(0.5, func() {
				r.Dial(r.A, r.B, Port, func(so *stack.Socket) {
					r.At(1, func() {
						r.Shutdown(r.A, so, stack.ShutWR)
						r.ReadToEnd(r.A, so, func(string, error) { r.Close(r.A, so) })
					})
				})
			})
			r.At(100, func() {
				for _, c := range srv {
					r.Close(r.B, c)
				}
			})
			stopListener(r, l, 101)
		},
		Check: func(r *Run) error {
			fw2, err := stateTime(r, "A", 0, "FIN_WAIT_2")
			if err != nil {
				return err
			}
			gone, err := stateTime(r, "A", 0, "CLOSED")
			if err != nil {
				return err
			}
			if gone.Sub(fw2) != 60*time.Second {
				return fmt.Errorf("orphaned FIN_WAIT_2 lasted %v, want 60s (tcp_fin_timeout)", gone.Sub(fw2))
			}
			tw, err := stateTime(r, "A", 1, "TIME_WAIT")
			if err != nil {
				return err
			}
			if tw < clockAt(100) {
				return fmt.Errorf("the shutdown(SHUT_WR) connection left FIN_WAIT_2 at %v, before B closed", tw)
			}
			return all(
				expectStates(r, "A", 0, "CLOSED,SYN_SENT,ESTABLISHED,FIN_WAIT_1,FIN_WAIT_2,CLOSED"),
				expectStates(r, "A", 1, "CLOSED,SYN_SENT,ESTABLISHED,FIN_WAIT_1,FIN_WAIT_2,TIME_WAIT,CLOSED"),
				expectStates(r, "B", 0, "LISTEN,SYN_RCVD,ESTABLISHED,CLOSE_WAIT,LAST_ACK,CLOSED"),
				expectWireFrom(r, "B>A F. 1:1(0) ack 2", "B>A F. 1:1(0) ack 2", "A>B R 2:2(0)", "A>B . 2:2(0) ack 2"),
			)
		},
	}
}
