package scenario

import (
	"fmt"
	"time"

	"github.com/tcpwave/tcpwave/stack"
)

// Catalog returns every scenario of SCENARIOS.md, in its order.
func Catalog() []*Scenario {
	return []*Scenario{
		handshake(), fourWayClose(), threeWayClose(), finWithData(), simultaneousClose(),
		halfClose(), closeThenData(), lostFin1(), lostAck2(), lostFin3(), lostAck4(),
		noTimeWait(), finWait2Timeout(), timeWaitBlocksBind(), reusePort(), oldDuplicate(),
		timeWaitReuse(), dupClose(), processExit(), closeWithUnread(), lingerZero(),
		rstClosedPort(), serverActiveClose(),
	}
}

// Find returns the scenario called name.
func Find(name string) (*Scenario, error) {
	for _, s := range Catalog() {
		if s.Name == name {
			return s, nil
		}
	}
	return nil, fmt.Errorf("scenario: no scenario named %q (see `tcpwave scenario list`)", name)
}

// serve makes B listen and hands each accepted connection to handle.
func serve(r *Run, handle func(c *stack.Socket)) *stack.Socket {
	l, err := r.Listen(r.B, Port)
	if err != nil {
		r.fail("listen: %v", err)
		return nil
	}
	var loop func()
	loop = func() {
		r.Accept(r.B, l, func(c *stack.Socket) {
			handle(c)
			loop()
		})
	}
	loop()
	return l
}

// closeOnEOF makes host read c to the end and close it after wait.
func closeOnEOF(r *Run, c *stack.Socket, wait time.Duration) {
	h := r.B
	r.ReadToEnd(h, c, func(_ string, err error) {
		r.After(wait, func() { r.Close(h, c) })
	})
}

// stopListener closes B's listener at the end of the applications' work.
func stopListener(r *Run, l *stack.Socket, at float64) {
	r.At(at, func() {
		if l != nil {
			r.Close(r.B, l)
		}
	})
}

var handshakeWire = []string{"A>B S 0:0(0)", "B>A S. 0:0(0) ack 1", "A>B . 1:1(0) ack 1"}

func handshake() *Scenario {
	return &Scenario{
		Name:    "handshake",
		Summary: "A connects to B: SYN, SYN-ACK, ACK",
		Seeds:   "001",
		Play: func(r *Run) {
			l := serve(r, func(c *stack.Socket) { closeOnEOF(r, c, 0) })
			r.Dial(r.A, r.B, Port, func(so *stack.Socket) {
				r.After(time.Second, func() { r.Close(r.A, so) })
			})
			stopListener(r, l, 2)
		},
		Check: func(r *Run) error {
			w := r.Wire()
			if len(w) < 3 {
				return fmt.Errorf("only %d segments", len(w))
			}
			return all(
				sameList("handshake", w[:3], handshakeWire),
				expectStates(r, "A", 0, "CLOSED,SYN_SENT,ESTABLISHED,FIN_WAIT_1,FIN_WAIT_2,TIME_WAIT,CLOSED"),
				expectStates(r, "B", 0, "LISTEN,SYN_RCVD,ESTABLISHED,CLOSE_WAIT,LAST_ACK,CLOSED"),
			)
		},
	}
}

func fourWayClose() *Scenario {
	return &Scenario{
		Name:    "four-way-close",
		Summary: "A closes; B reads EOF, waits 1 s, closes: FIN, ACK, FIN, ACK; A holds TIME_WAIT 60 s",
		Seeds:   "000, 001, 002, 003",
		Play: func(r *Run) {
			l := serve(r, func(c *stack.Socket) { closeOnEOF(r, c, time.Second) })
			r.Dial(r.A, r.B, Port, func(so *stack.Socket) {
				r.After(time.Second, func() { r.Close(r.A, so) })
			})
			stopListener(r, l, 5)
		},
		Check: func(r *Run) error {
			tw, err := stateTime(r, "A", 0, "TIME_WAIT")
			if err != nil {
				return err
			}
			closed, err := stateTime(r, "A", 0, "CLOSED")
			if err != nil {
				return err
			}
			if closed.Sub(tw) != 60*time.Second {
				return fmt.Errorf("A spent %v in TIME_WAIT, want 60s", closed.Sub(tw))
			}
			return all(
				expectWire(r, append(handshakeWire,
					"A>B F. 1:1(0) ack 1", "B>A . 1:1(0) ack 2", "B>A F. 1:1(0) ack 2", "A>B . 2:2(0) ack 2")...),
				expectStates(r, "A", 0, "CLOSED,SYN_SENT,ESTABLISHED,FIN_WAIT_1,FIN_WAIT_2,TIME_WAIT,CLOSED"),
				expectStates(r, "B", 0, "LISTEN,SYN_RCVD,ESTABLISHED,CLOSE_WAIT,LAST_ACK,CLOSED"),
				expectApps(r, "B", "bind+listen(:80)=0", "accept=0", "read=EOF", "close=0", "close=0"),
			)
		},
	}
}

func threeWayClose() *Scenario {
	return &Scenario{
		Name:    "three-way-close",
		Summary: "after a request/response B's delayed ACK merges with its FIN: FIN, FIN-ACK, ACK",
		Seeds:   "001, 002, 003",
		Play: func(r *Run) {
			l := serve(r, func(c *stack.Socket) {
				r.Read(r.B, c, func(req string, err error) {
					r.Write(r.B, c, "HTTP/1.0 200 OK\r\n\r\nhello")
					closeOnEOF(r, c, 0)
				})
			})
			r.Dial(r.A, r.B, Port, func(so *stack.Socket) {
				r.After(time.Second, func() {
					r.Write(r.A, so, "GET / HTTP/1.1\r\n\r\n")
					r.Read(r.A, so, func(string, error) { r.Close(r.A, so) })
				})
			})
			stopListener(r, l, 5)
		},
		Check: func(r *Run) error {
			return all(
				expectWireFrom(r, "A>B F. 19:19(0) ack 25", "B>A F. 25:25(0) ack 20", "A>B . 20:20(0) ack 26"),
				expectStates(r, "A", 0, "CLOSED,SYN_SENT,ESTABLISHED,FIN_WAIT_1,TIME_WAIT,CLOSED"),
				expectStates(r, "B", 0, "LISTEN,SYN_RCVD,ESTABLISHED,CLOSE_WAIT,LAST_ACK,CLOSED"),
			)
		},
	}
}

func finWithData() *Scenario {
	return &Scenario{
		Name:    "fin-with-data",
		Summary: "A's last write and close leave together: the FIN rides on the data (FP.)",
		Seeds:   "003",
		Play: func(r *Run) {
			l := serve(r, func(c *stack.Socket) {
				r.ReadToEnd(r.B, c, func(data string, err error) {
					r.Notes["B read"] = data
					r.Close(r.B, c)
				})
			})
			r.Dial(r.A, r.B, Port, func(so *stack.Socket) {
				r.After(time.Second, func() {
					r.Write(r.A, so, "hello")
					r.Close(r.A, so)
				})
			})
			stopListener(r, l, 5)
		},
		Check: func(r *Run) error {
			if r.Notes["B read"] != "hello" {
				return fmt.Errorf("B read %q, want hello", r.Notes["B read"])
			}
			return all(
				expectWireFrom(r, "A>B FP. 1:6(5) ack 1", "B>A . 1:1(0) ack 7", "B>A F. 1:1(0) ack 7", "A>B . 7:7(0) ack 2"),
				expectStates(r, "A", 0, "CLOSED,SYN_SENT,ESTABLISHED,FIN_WAIT_1,FIN_WAIT_2,TIME_WAIT,CLOSED"),
			)
		},
	}
}

func simultaneousClose() *Scenario {
	return &Scenario{
		Name:    "simultaneous-close",
		Summary: "A and B close at the same instant: both pass through CLOSING and hold TIME_WAIT",
		Seeds:   "001",
		Play: func(r *Run) {
			var srv *stack.Socket
			l := serve(r, func(c *stack.Socket) { srv = c })
			r.Dial(r.A, r.B, Port, func(so *stack.Socket) {
				r.At(1, func() {
					r.Close(r.A, so)
					r.Close(r.B, srv)
				})
			})
			stopListener(r, l, 5)
		},
		Check: func(r *Run) error {
			return all(
				expectWireFrom(r, "A>B F. 1:1(0) ack 1", "B>A F. 1:1(0) ack 1", "B>A . 2:2(0) ack 2", "A>B . 2:2(0) ack 2"),
				expectStates(r, "A", 0, "CLOSED,SYN_SENT,ESTABLISHED,FIN_WAIT_1,CLOSING,TIME_WAIT,CLOSED"),
				expectStates(r, "B", 0, "LISTEN,SYN_RCVD,ESTABLISHED,FIN_WAIT_1,CLOSING,TIME_WAIT,CLOSED"),
			)
		},
	}
}

func halfClose() *Scenario {
	return &Scenario{
		Name:    "half-close",
		Summary: "A shutdown(SHUT_WR); B reads EOF, sends data 0.5 s later, closes 1 s later; A still receives",
		Seeds:   "000, 001, 002, 003",
		Play: func(r *Run) {
			l := serve(r, func(c *stack.Socket) {
				r.ReadToEnd(r.B, c, func(string, error) {
					r.After(500*time.Millisecond, func() { r.Write(r.B, c, "late reply") })
					r.After(time.Second, func() { r.Close(r.B, c) })
				})
			})
			r.Dial(r.A, r.B, Port, func(so *stack.Socket) {
				r.After(time.Second, func() {
					r.Shutdown(r.A, so, stack.ShutWR)
					r.ReadToEnd(r.A, so, func(data string, err error) {
						r.Notes["A read"] = data
						r.Close(r.A, so)
					})
				})
			})
			stopListener(r, l, 5)
		},
		Check: func(r *Run) error {
			if r.Notes["A read"] != "late reply" {
				return fmt.Errorf("A read %q after its FIN, want %q", r.Notes["A read"], "late reply")
			}
			return all(
				expectWireFrom(r, "A>B F. 1:1(0) ack 1", "B>A . 1:1(0) ack 2", "B>A P. 1:11(10) ack 2",
					"A>B . 2:2(0) ack 11", "B>A F. 11:11(0) ack 2", "A>B . 2:2(0) ack 12"),
				expectStates(r, "A", 0, "CLOSED,SYN_SENT,ESTABLISHED,FIN_WAIT_1,FIN_WAIT_2,TIME_WAIT,CLOSED"),
				expectApps(r, "A", "connect=0", "shutdown(SHUT_WR)=0", "read=10", "read=EOF", "close=0"),
			)
		},
	}
}
