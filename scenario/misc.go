package scenario

import (
	"fmt"
	"net/netip"
	"time"

	"github.com/tcpwave/tcpwave/clock"
	"github.com/tcpwave/tcpwave/sim"
	"github.com/tcpwave/tcpwave/stack"
	"github.com/tcpwave/tcpwave/wire"
)

func clockAt(sec float64) clock.Instant { return clock.Instant(sec * float64(time.Second)) }

// bind tries to bind a fresh socket on B's port and records it.
func bind(r *Run, reuse bool) *stack.Socket {
	so := r.B.Stack.NewSocket()
	so.SetReuseAddr(reuse)
	err := so.Bind(netip.AddrPortFrom(r.B.Addr, Port))
	call := "bind(:80)"
	if reuse {
		call = "bind(:80, SO_REUSEADDR)"
	}
	r.app(r.B, call, ErrName(err))
	if err != nil {
		so.Close(r.Net.Now())
		return nil
	}
	return so
}

func timeWaitBlocksBind() *Scenario {
	return &Scenario{
		Name:    "time-wait-blocks-bind",
		Summary: "B's process stops first; a new B cannot bind the port while TIME_WAIT (or FIN_WAIT_2) holds it, unless SO_REUSEADDR",
		Seeds:   "001",
		Play: func(r *Run) {
			var srv *stack.Socket
			l, err := r.Listen(r.B, Port, ReuseAddr)
			if err != nil {
				r.fail("listen: %v", err)
				return
			}
			r.Accept(r.B, l, func(c *stack.Socket) { srv = c })
			r.Dial(r.A, r.B, Port, func(so *stack.Socket) {
				r.ReadToEnd(r.A, so, func(string, error) {
					r.At(2, func() { r.Close(r.A, so) })
				})
			})
			r.At(1, func() { // B's process stops: every socket closes
				r.Close(r.B, srv)
				r.Close(r.B, l)
			})
			r.At(1.5, func() { bind(r, false) })
			r.At(2.5, func() { bind(r, false) })
			r.At(3, func() {
				if so := bind(r, true); so != nil {
					r.app(r.B, "listen", ErrName(so.Listen(r.Net.Now(), 128)))
					r.At(4, func() { r.Close(r.B, so) })
				}
			})
		},
		Check: func(r *Run) error {
			return all(
				expectStates(r, "B", 0, "LISTEN,SYN_RCVD,ESTABLISHED,FIN_WAIT_1,FIN_WAIT_2,TIME_WAIT,CLOSED"),
				expectApps(r, "B", "bind+listen(:80)=0", "accept=0", "close=0", "close=0",
					"bind(:80)=EADDRINUSE", "bind(:80)=EADDRINUSE", "bind(:80, SO_REUSEADDR)=0", "listen=0", "close=0"),
			)
		},
	}
}

func reusePort() *Scenario {
	const clients = 8
	return &Scenario{
		Name:    "reuse-port",
		Summary: "two listeners with SO_REUSEPORT on one port both bind; new connections are spread across them",
		Seeds:   "001",
		Play: func(r *Run) {
			for i := range 2 {
				l, err := r.Listen(r.B, Port, ReusePort)
				if err != nil {
					r.fail("listener %d: %v", i, err)
					return
				}
				key := fmt.Sprintf("accepted by listener %d", i)
				var loop func()
				loop = func() {
					r.Accept(r.B, l, func(c *stack.Socket) {
						r.Notes[key] += "x"
						closeOnEOF(r, c, 0)
						loop()
					})
				}
				loop()
				stopListener(r, l, 5)
			}
			for i := range clients {
				r.At(0.1*float64(i), func() {
					r.Dial(r.A, r.B, Port, func(so *stack.Socket) {
						r.After(time.Second, func() { r.Close(r.A, so) })
					})
				})
			}
		},
		Check: func(r *Run) error {
			a, b := len(r.Notes["accepted by listener 0"]), len(r.Notes["accepted by listener 1"])
			if a+b != clients || a == 0 || b == 0 {
				return fmt.Errorf("listeners accepted %d and %d connections, want %d spread across both", a, b, clients)
			}
			return nil
		},
	}
}

func oldDuplicate() *Scenario {
	return &Scenario{
		Name: "old-duplicate",
		Summary: "a delayed segment of a closed connection meets a new one on the same 4-tuple: " +
			"TIME_WAIT keeps it out; with --time-wait 0 and a colliding ISN it corrupts the new stream",
		Seeds: "002",
		Tune: func(p *Params) {
			// The premise: both incarnations start from the same ISNs (so
			// the old segment's SEQ and ACK both fit the new connection), and
			// no timestamps (PAWS would otherwise catch the old segment).
			p.A.ISN = func(clock.Instant, stack.Tuple) uint32 { return 1000 }
			p.B.ISN = func(clock.Instant, stack.Tuple) uint32 { return 5000 }
			p.A.TCP.Timestamps, p.B.TCP.Timestamps = false, false
		},
		Play: func(r *Run) {
			// "OLD!" is held in the network for 1.5 s; its retransmission
			// gets through.
			r.Net.AddRule(&sim.Rule{From: "A", Match: func(p *wire.Packet) bool { return len(p.Payload) > 0 }, Nth: 1, Delay: 1500 * time.Millisecond})
			n := 0
			l := serve(r, func(c *stack.Socket) {
				n++
				if n == 1 { // the first incarnation: B answers and closes first
					r.Read(r.B, c, func(d string, _ error) {
						r.Notes["B read on connection 1"] = d
						r.Close(r.B, c)
					})
					return
				}
				r.ReadToEnd(r.B, c, func(d string, _ error) {
					r.Notes["B read on connection 2"] = d
					r.Close(r.B, c)
				})
			})
			r.DialFrom(r.A, r.B, 40000, Port, func(so *stack.Socket) {
				r.At(0.5, func() { r.Write(r.A, so, "OLD!") })
				r.ReadToEnd(r.A, so, func(string, error) { r.Close(r.A, so) })
			}, ReuseAddr)
			r.At(1.5, func() {
				r.DialFrom(r.A, r.B, 40000, Port, func(so *stack.Socket) {
					r.At(3, func() {
						r.Write(r.A, so, "NEW!")
						r.Close(r.A, so)
					})
				}, ReuseAddr)
			})
			stopListener(r, l, 10)
		},
		Check: func(r *Run) error {
			if got := r.Notes["B read on connection 1"]; got != "OLD!" {
				return fmt.Errorf("B read %q on the first connection, want OLD!", got)
			}
			got := r.Notes["B read on connection 2"]
			if r.P.B.TCP.TimeWait == 0 {
				if got != "OLD!" {
					return fmt.Errorf("without TIME_WAIT B read %q on the new connection; the old duplicate should have been taken as its data", got)
				}
				return nil
			}
			if got != "NEW!" {
				return fmt.Errorf("B read %q on the new connection, want NEW! (the old duplicate kept out)", got)
			}
			return nil
		},
	}
}

func timeWaitReuse() *Scenario {
	return &Scenario{
		Name:    "time-wait-reuse",
		Summary: "a new SYN with a higher sequence number (or newer timestamp) reopens a 4-tuple B holds in TIME_WAIT (RFC 6191)",
		Seeds:   "002",
		Play: func(r *Run) {
			n := 0
			l := serve(r, func(c *stack.Socket) {
				n++
				if n == 1 {
					r.After(500*time.Millisecond, func() { r.Close(r.B, c) }) // B closes first: TIME_WAIT at B
					return
				}
				closeOnEOF(r, c, 0)
			})
			r.DialFrom(r.A, r.B, 40000, Port, func(so *stack.Socket) {
				r.ReadToEnd(r.A, so, func(string, error) { r.Close(r.A, so) })
			}, ReuseAddr)
			r.At(5, func() {
				r.DialFrom(r.A, r.B, 40000, Port, func(so *stack.Socket) {
					r.Notes["second connect"] = r.Net.Now().String()
					r.After(time.Second, func() { r.Close(r.A, so) })
				}, ReuseAddr)
			})
			stopListener(r, l, 10)
		},
		Check: func(r *Run) error {
			if c := r.B.Stack.Counters().TWRecycled; c != 1 {
				return fmt.Errorf("TWRecycled = %d, want 1", c)
			}
			if got := r.Notes["second connect"]; got != "5.001000s" {
				return fmt.Errorf("second connect finished at %s, want 5.001000s (accepted at once)", got)
			}
			return all(
				expectStates(r, "B", 0, "LISTEN,SYN_RCVD,ESTABLISHED,FIN_WAIT_1,FIN_WAIT_2,TIME_WAIT,CLOSED"),
				expectStates(r, "B", 1, "LISTEN,SYN_RCVD,ESTABLISHED,CLOSE_WAIT,LAST_ACK,CLOSED"),
			)
		},
	}
}

func dupClose() *Scenario {
	return &Scenario{
		Name:    "dup-close",
		Summary: "a dup()ed socket sends its FIN only when the last handle closes; shutdown(SHUT_RDWR) acts at once",
		Seeds:   "001",
		Play: func(r *Run) {
			l := serve(r, func(c *stack.Socket) { closeOnEOF(r, c, 0) })
			r.Dial(r.A, r.B, Port, func(so *stack.Socket) {
				so.Ref()
				r.app(r.A, "dup", "0")
				r.At(1, func() { r.Close(r.A, so) })
				r.At(2, func() { r.Close(r.A, so) })
			})
			r.At(0.5, func() {
				r.Dial(r.A, r.B, Port, func(so *stack.Socket) {
					so.Ref()
					r.app(r.A, "dup", "0")
					r.At(3, func() {
						r.Shutdown(r.A, so, stack.ShutRDWR)
						r.Write(r.A, so, "after") // through the other handle
					})
					r.At(4, func() {
						r.Close(r.A, so)
						r.Close(r.A, so)
					})
				})
			})
			stopListener(r, l, 5)
		},
		Check: func(r *Run) error {
			fins := r.SendTimes("A", "F. 1:1(0) ack 1")
			if len(fins) != 2 || fins[0] != clockAt(2) || fins[1] != clockAt(3) {
				return fmt.Errorf("A's FINs at %v, want 2s (last close) and 3s (shutdown)", fins)
			}
			return expectApps(r, "A", "connect=0", "dup=0", "connect=0", "dup=0", "close=0", "close=0",
				"shutdown(SHUT_RDWR)=0", "write(5)=EPIPE", "close=0", "close=0")
		},
	}
}

func processExit() *Scenario {
	const conns = 3
	return &Scenario{
		Name:    "process-exit",
		Summary: "A's stack shuts down with open connections: every one sends its FIN and A keeps answering until they are gone",
		Seeds:   "000, 003",
		Play: func(r *Run) {
			l := serve(r, func(c *stack.Socket) { closeOnEOF(r, c, 500*time.Millisecond) })
			for i := range conns {
				r.At(0.1*float64(i), func() { r.Dial(r.A, r.B, Port, nil) })
			}
			r.At(1, func() {
				r.A.Stack.CloseAll(r.Net.Now())
				r.app(r.A, "exit", "0")
			})
			stopListener(r, l, 5)
		},
		Check: func(r *Run) error {
			fins := r.SendTimes("A", "F. 1:1(0) ack 1")
			if len(fins) != conns {
				return fmt.Errorf("A sent %d FINs, want %d", len(fins), conns)
			}
			for i, t := range fins {
				if t != clockAt(1) {
					return fmt.Errorf("FIN %d at %v, want 1s", i, t)
				}
			}
			for i := range conns {
				if err := expectStates(r, "A", i, "CLOSED,SYN_SENT,ESTABLISHED,FIN_WAIT_1,FIN_WAIT_2,TIME_WAIT,CLOSED"); err != nil {
					return err
				}
			}
			return nil
		},
	}
}

func closeWithUnread() *Scenario {
	return &Scenario{
		Name:    "close-with-unread",
		Summary: "A closes with unread data in its receive buffer: RST, not FIN (RFC 2525, Linux)",
		Seeds:   "Linux behaviour",
		Play: func(r *Run) {
			l := serve(r, func(c *stack.Socket) {
				r.At(0.5, func() { r.Write(r.B, c, "unread") })
				r.ReadToEnd(r.B, c, func(string, error) { r.Close(r.B, c) })
			})
			r.Dial(r.A, r.B, Port, func(so *stack.Socket) {
				r.At(1, func() { r.Close(r.A, so) })
			})
			stopListener(r, l, 5)
		},
		Check: func(r *Run) error {
			return all(
				expectWireFrom(r, "B>A P. 1:7(6) ack 1", "A>B . 1:1(0) ack 7", "A>B R. 1:1(0) ack 7"),
				expectStates(r, "A", 0, "CLOSED,SYN_SENT,ESTABLISHED,CLOSED"),
				expectStates(r, "B", 0, "LISTEN,SYN_RCVD,ESTABLISHED,CLOSED"),
				expectApps(r, "B", "bind+listen(:80)=0", "accept=0", "write(6)=6", "read=ECONNRESET", "close=0", "close=0"),
			)
		},
	}
}

func lingerZero() *Scenario {
	return &Scenario{
		Name:    "linger-zero",
		Summary: "A sets SO_LINGER {on, 0} and closes: RST, no TIME_WAIT on either side",
		Seeds:   "Linux behaviour",
		Play: func(r *Run) {
			l := serve(r, func(c *stack.Socket) { closeOnEOF(r, c, 0) })
			r.Dial(r.A, r.B, Port, func(so *stack.Socket) {
				so.SetLinger(true, 0)
				r.At(1, func() { r.Close(r.A, so) })
			})
			stopListener(r, l, 5)
		},
		Check: func(r *Run) error {
			return all(
				expectWireFrom(r, "A>B R. 1:1(0) ack 1"),
				expectStates(r, "A", 0, "CLOSED,SYN_SENT,ESTABLISHED,CLOSED"),
				expectStates(r, "B", 0, "LISTEN,SYN_RCVD,ESTABLISHED,CLOSED"),
				expectApps(r, "B", "bind+listen(:80)=0", "accept=0", "read=ECONNRESET", "close=0", "close=0"),
			)
		},
	}
}

func rstClosedPort() *Scenario {
	return &Scenario{
		Name:    "rst-closed-port",
		Summary: "a SYN or a stray segment to a port with nothing there draws RST",
		Seeds:   "000",
		Play: func(r *Run) {
			r.TryDial(r.A, r.B, 81, nil)
			r.At(1, func() {
				err := r.Net.Inject(r.A, &wire.Packet{Src: r.A.Addr, Dst: r.B.Addr,
					TCP: wire.TCPFields{SrcPort: 50000, DstPort: 81, Seq: 100, Ack: 200, Flags: wire.ACK, Window: 1000}})
				if err != nil {
					r.fail("inject: %v", err)
				}
			})
		},
		Check: func(r *Run) error {
			return all(
				expectWire(r, "A>B S 0:0(0)", "B>A R. 0:0(0) ack 1", "A>B . 100:100(0) ack 200", "B>A R 200:200(0)"),
				expectApps(r, "A", "connect=ECONNREFUSED"),
				expectStates(r, "A", 0, "CLOSED,SYN_SENT,CLOSED"),
			)
		},
	}
}

func serverActiveClose() *Scenario {
	return &Scenario{
		Name:    "server-active-close",
		Summary: "an HTTP/1.0-style server answers and closes first: the server holds TIME_WAIT, the client ends CLOSED",
		Seeds:   "003",
		Play: func(r *Run) {
			l := serve(r, func(c *stack.Socket) {
				r.Read(r.B, c, func(string, error) {
					r.Write(r.B, c, "HTTP/1.0 200 OK\r\n\r\nhello")
					r.Close(r.B, c)
				})
			})
			r.Dial(r.A, r.B, Port, func(so *stack.Socket) {
				r.Write(r.A, so, "GET / HTTP/1.0\r\n\r\n")
				r.ReadToEnd(r.A, so, func(data string, err error) {
					r.Notes["A read"] = data
					r.Close(r.A, so)
				})
			})
			stopListener(r, l, 5)
		},
		Check: func(r *Run) error {
			const reply = "HTTP/1.0 200 OK\r\n\r\nhello"
			if r.Notes["A read"] != reply {
				return fmt.Errorf("A read %q, want the whole reply %q", r.Notes["A read"], reply)
			}
			return all(
				expectWireFrom(r, "B>A FP. 1:25(24) ack 19", "A>B . 19:19(0) ack 26", "A>B F. 19:19(0) ack 26", "B>A . 26:26(0) ack 20"),
				expectStates(r, "B", 0, "LISTEN,SYN_RCVD,ESTABLISHED,FIN_WAIT_1,FIN_WAIT_2,TIME_WAIT,CLOSED"),
				expectStates(r, "A", 0, "CLOSED,SYN_SENT,ESTABLISHED,CLOSE_WAIT,LAST_ACK,CLOSED"),
			)
		},
	}
}
