package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"runtime"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/tcpwave/tcpwave"
	"github.com/tcpwave/tcpwave/interop"
	"github.com/tcpwave/tcpwave/stack"
	"github.com/tcpwave/tcpwave/tcp"
	gstack "gvisor.dev/gvisor/pkg/tcpip/stack"
)

// sizes are the lengths and counts of the workloads' runs.
type sizes struct {
	bulkWarm, bulkDur   time.Duration // bulk-1500, bulk-65535, bulk-1500-offload
	allocWarm, allocDur time.Duration // allocs-per-segment
	lossyWarm, lossyDur time.Duration // lossy-goodput
	churn               int           // connection lifecycles per churn run
	handshakes          int           // handshakes timed per run
	idleConns           int           // connections of idle-mem
	twConns             int           // connections of timewait-mem
	xfer                [3]int64      // bytes of the xfer workloads' timed transfers (rows /64KiB, /1MiB, /16MiB)
	xferBig             int64         // bytes of the xfer workloads' big transfer
}

// defaultSizes are the sizes of a default run.
var defaultSizes = sizes{
	bulkWarm: 200 * time.Millisecond, bulkDur: time.Second,
	allocWarm: 200 * time.Millisecond, allocDur: 500 * time.Millisecond,
	lossyWarm: 300 * time.Millisecond, lossyDur: 1500 * time.Millisecond,
	churn:      5000,
	handshakes: 2000,
	idleConns:  10000,
	twConns:    50000,
	xfer:       [3]int64{64 << 10, 1 << 20, 16 << 20},
	xferBig:    2 << 30,
}

// quickSizes are the sizes of -quick: every workload in a few seconds.
var quickSizes = sizes{
	bulkWarm: 50 * time.Millisecond, bulkDur: 200 * time.Millisecond,
	allocWarm: 50 * time.Millisecond, allocDur: 150 * time.Millisecond,
	// At 1% loss a retransmission lost again costs an RTO and its
	// backoff, 200 + 400 ms with nothing delivered, on either stack: a
	// window shorter than that would sometimes see no data at all.
	lossyWarm: 100 * time.Millisecond, lossyDur: time.Second,
	churn:      300,
	handshakes: 100,
	idleConns:  300,
	twConns:    1000,
	// The xfer rows keep their names; -quick moves less (a race-enabled
	// test run of gVisor on the shared link takes seconds per MiB).
	xfer:    [3]int64{16 << 10, 64 << 10, 1 << 20},
	xferBig: 2 << 20,
}

// metric is one quantity a workload measures: one row of the output.
type metric struct {
	name        string // the row's name: the workload's, or the workload's with a suffix
	unit        string
	lowerBetter bool
}

// workload is one benchmark. run measures its metrics once on a fresh
// pair of stacks of kind k and stops them before it returns; i is the
// run's index (seeds).
type workload struct {
	name    string
	metrics []metric
	run     func(ctx context.Context, k interop.Kind, sz sizes, i int) ([]float64, error)
}

// workloads are every workload, in the order they run.
var workloads = []*workload{
	{
		name: "bulk-1500",
		metrics: []metric{
			{"bulk-1500", "Gbit/s", false},
			{"bulk-1500/cpu", "CPU s/GiB", true},
		},
		run: func(ctx context.Context, k interop.Kind, sz sizes, _ int) ([]float64, error) {
			r, err := bulk(ctx, k, interop.LinkConfig{MTU: 1500}, sz.bulkWarm, sz.bulkDur)
			return []float64{r.gbps, r.cpuPerGiB}, err
		},
	},
	{
		name: "bulk-65535",
		metrics: []metric{
			{"bulk-65535", "Gbit/s", false},
			{"bulk-65535/cpu", "CPU s/GiB", true},
		},
		run: func(ctx context.Context, k interop.Kind, sz sizes, _ int) ([]float64, error) {
			r, err := bulk(ctx, k, interop.LinkConfig{MTU: 65535}, sz.bulkWarm, sz.bulkDur)
			if err == nil && r.maxLen < 60000 {
				err = fmt.Errorf("largest packet on a 65535-byte MTU was %d bytes: the MSS does not follow the MTU", r.maxLen)
			}
			return []float64{r.gbps, r.cpuPerGiB}, err
		},
	},
	{
		name: "bulk-1500-offload",
		metrics: []metric{
			{"bulk-1500-offload", "Gbit/s", false},
			{"bulk-1500-offload/cpu", "CPU s/GiB", true},
		},
		run: func(ctx context.Context, k interop.Kind, sz sizes, _ int) ([]float64, error) {
			r, err := bulk(ctx, k, interop.LinkConfig{MTU: 1500, GSOMaxSize: gsoMax}, sz.bulkWarm, sz.bulkDur)
			if err == nil {
				err = r.client.CheckOffload()
			}
			return []float64{r.gbps, r.cpuPerGiB}, err
		},
	},
	{
		name:    "churn-1",
		metrics: []metric{{"churn-1", "lifecycles/s", false}},
		run: func(ctx context.Context, k interop.Kind, sz sizes, _ int) ([]float64, error) {
			r, err := churn(ctx, k, 1, sz.churn)
			return []float64{r}, err
		},
	},
	{
		name:    "churn-8",
		metrics: []metric{{"churn-8", "lifecycles/s", false}},
		run: func(ctx context.Context, k interop.Kind, sz sizes, _ int) ([]float64, error) {
			r, err := churn(ctx, k, 8, sz.churn)
			return []float64{r}, err
		},
	},
	{
		name:    "handshake",
		metrics: []metric{{"handshake", "µs", true}},
		run: func(ctx context.Context, k interop.Kind, sz sizes, _ int) ([]float64, error) {
			r, err := handshake(ctx, k, sz.handshakes)
			return []float64{r}, err
		},
	},
	{
		name: "idle-mem",
		metrics: []metric{
			{"idle-mem", "B/endpoint", true},
			{"idle-mem/goroutines", "goroutines/conn", true},
		},
		run: func(ctx context.Context, k interop.Kind, sz sizes, _ int) ([]float64, error) {
			b, g, err := idleMem(ctx, k, sz.idleConns)
			return []float64{b, g}, err
		},
	},
	{
		name:    "timewait-mem",
		metrics: []metric{{"timewait-mem", "B/conn", true}},
		run: func(ctx context.Context, k interop.Kind, sz sizes, _ int) ([]float64, error) {
			r, err := timewaitMem(ctx, k, sz.twConns)
			return []float64{r}, err
		},
	},
	{
		name:    "allocs-per-segment",
		metrics: []metric{{"allocs-per-segment", "allocs/segment", true}},
		run: func(ctx context.Context, k interop.Kind, sz sizes, _ int) ([]float64, error) {
			r, err := bulk(ctx, k, interop.LinkConfig{MTU: 1500}, sz.allocWarm, sz.allocDur)
			return []float64{r.allocsPerSeg}, err
		},
	},
	{
		name:    "lossy-goodput",
		metrics: []metric{{"lossy-goodput", "Gbit/s", false}},
		run: func(ctx context.Context, k interop.Kind, sz sizes, i int) ([]float64, error) {
			r, err := bulk(ctx, k, interop.LinkConfig{MTU: 1500, Loss: 0.01, Seed: uint64(i + 1)}, sz.lossyWarm, sz.lossyDur)
			if err == nil && r.lost == 0 {
				err = errors.New("the lossy link lost nothing")
			}
			return []float64{r.gbps}, err
		},
	},
}

func init() {
	// After the others: each xfer run makes four connections on a fresh
	// pair, one of them 2 GiB.
	for _, mtu := range []int{1500, 65535} {
		for _, native := range []bool{true, false} {
			workloads = append(workloads, xferWorkload(mtu, native))
		}
	}
}

// workloadNames returns the names of every workload.
func workloadNames() []string {
	var names []string
	for _, w := range workloads {
		names = append(names, w.name)
	}
	return names
}

// selectWorkloads returns the workloads a -workloads list names, in
// their usual order; "all" (or an empty list) names every one.
func selectWorkloads(list string) ([]*workload, error) {
	want := map[string]bool{}
	for _, n := range strings.Split(list, ",") {
		if n = strings.TrimSpace(n); n != "" {
			want[n] = true
		}
	}
	if len(want) == 0 || want["all"] {
		return workloads, nil
	}
	var sel []*workload
	for _, w := range workloads {
		if want[w.name] {
			sel = append(sel, w)
			delete(want, w.name)
		}
	}
	for n := range want {
		return nil, fmt.Errorf("unknown workload %q (have %s)", n, strings.Join(workloadNames(), ", "))
	}
	return sel, nil
}

// Shared constants of the workloads.
const (
	chunk       = 64 << 10         // bulk write and read size
	gsoMax      = 65535            // largest super-packet of bulk-1500-offload
	connTimeout = 30 * time.Second // deadline of every connection
	settle      = 100 * time.Millisecond
)

// serverAddr is the server's address with port.
func serverAddr(port uint16) string {
	return netip.AddrPortFrom(interop.AddrB4, port).String()
}

// newPair starts two hosts of kind k, client A and server B, on a new
// link.
func newPair(k interop.Kind, lc interop.LinkConfig, cfg interop.Config) (*interop.Pair, *interop.Link, error) {
	return interop.NewPairOn(k, k, lc, cfg)
}

// sleep waits for d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// recv waits for a value from ch or until ctx ends.
func recv[T any](ctx context.Context, ch <-chan T) (T, error) {
	select {
	case v := <-ch:
		return v, nil
	case <-ctx.Done():
		var zero T
		return zero, ctx.Err()
	}
}

// cpuTime returns the CPU time (user and system) the process has used.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// heapAfterGC collects garbage until the heap stops shrinking and returns
// the bytes of live heap objects.
func heapAfterGC() uint64 {
	var ms runtime.MemStats
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// bulkResult is what one bulk run measured.
type bulkResult struct {
	gbps         float64           // goodput, at the receiver
	cpuPerGiB    float64           // process CPU seconds per GiB received
	allocsPerSeg float64           // heap allocations per segment sent by either host
	maxLen       int               // largest packet the client sent
	lost         uint64            // packets the link lost, both directions
	client       interop.LinkStats // what the client sent, the whole run
}

// snapshot is the state of a bulk run at one instant.
type snapshot struct {
	t       time.Time
	rx      int64
	cpu     time.Duration
	mallocs uint64
	segs    uint64
}

func takeSnapshot(p *interop.Pair, rx *atomic.Int64) (snapshot, error) {
	s := snapshot{t: time.Now(), rx: rx.Load(), cpu: cpuTime()}
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	s.mallocs = ms.Mallocs
	for _, h := range []interop.Host{p.A, p.B} {
		n, err := interop.SegmentsSent(h)
		if err != nil {
			return s, err
		}
		s.segs += n
	}
	return s, nil
}

// bulk moves data one way, client to server, in 64 KiB writes read 64
// KiB at a time, and measures the dur that follows warm.
func bulk(ctx context.Context, k interop.Kind, lc interop.LinkConfig, warm, dur time.Duration) (bulkResult, error) {
	var r bulkResult
	p, link, err := newPair(k, lc, interop.Config{})
	if err != nil {
		return r, err
	}
	defer p.Close()
	ln, err := p.B.Listen("tcp4", serverAddr(5001))
	if err != nil {
		return r, err
	}
	defer ln.Close()
	c, s, err := interop.Dial(ctx, p.A, ln)
	if err != nil {
		return r, err
	}
	defer c.Close()
	defer s.Close()
	limit := time.Now().Add(warm + dur + connTimeout)
	c.SetDeadline(limit)
	s.SetDeadline(limit)

	var rx atomic.Int64
	readDone := make(chan error, 1)
	go func() {
		buf := make([]byte, chunk)
		for {
			n, err := s.Read(buf)
			rx.Add(int64(n))
			if err != nil {
				if err == io.EOF {
					err = nil
				}
				readDone <- err
				return
			}
		}
	}()
	var stop atomic.Bool
	writeDone := make(chan error, 1)
	go func() {
		buf := make([]byte, chunk)
		for !stop.Load() {
			if _, err := c.Write(buf); err != nil {
				writeDone <- err
				return
			}
		}
		writeDone <- c.CloseWrite()
	}()

	s0, err := measureAfter(ctx, warm, p, &rx)
	if err != nil {
		return r, err
	}
	s1, err := measureAfter(ctx, dur, p, &rx)
	stop.Store(true)
	if err != nil {
		return r, err
	}
	werr, err := recv(ctx, writeDone)
	if err != nil {
		return r, err
	}
	if werr != nil {
		return r, fmt.Errorf("write: %w", werr)
	}
	rerr, err := recv(ctx, readDone)
	if err != nil {
		return r, err
	}
	if rerr != nil {
		return r, fmt.Errorf("read: %w", rerr)
	}
	bytes := float64(s1.rx - s0.rx)
	if bytes <= 0 {
		return r, errors.New("no data arrived")
	}
	secs := s1.t.Sub(s0.t).Seconds()
	r.gbps = bytes * 8 / secs / 1e9
	r.cpuPerGiB = (s1.cpu - s0.cpu).Seconds() / (bytes / (1 << 30))
	if segs := s1.segs - s0.segs; segs > 0 {
		r.allocsPerSeg = float64(s1.mallocs-s0.mallocs) / float64(segs)
	}
	a, b := link.A.Stats(), link.B.Stats()
	r.maxLen, r.lost, r.client = a.MaxLen, a.Lost+b.Lost, a
	return r, nil
}

// measureAfter waits for d and takes a snapshot.
func measureAfter(ctx context.Context, d time.Duration, p *interop.Pair, rx *atomic.Int64) (snapshot, error) {
	if err := sleep(ctx, d); err != nil {
		return snapshot{}, err
	}
	return takeSnapshot(p, rx)
}

// server serves the churn protocol on a listener: for each connection,
// read one byte, write it back, read the client's FIN, close.
type server struct {
	ln      interop.Listener
	results chan error // one per connection served
	done    chan struct{}
}

// serve starts serving ln; results has room for n connections' results.
func serve(ln interop.Listener, n int) *server {
	srv := &server{ln: ln, results: make(chan error, n), done: make(chan struct{})}
	go func() {
		defer close(srv.done)
		for {
			c, err := ln.AcceptConn()
			if err != nil {
				return
			}
			go func() {
				err := serveOne(c)
				select {
				case srv.results <- err:
				default: // more connections than expected: nobody counts them
				}
			}()
		}
	}()
	return srv
}

func serveOne(c interop.Conn) error {
	defer c.Close()
	c.SetDeadline(time.Now().Add(connTimeout))
	var buf [1]byte
	if _, err := io.ReadFull(c, buf[:]); err != nil {
		return fmt.Errorf("server read: %w", err)
	}
	if _, err := c.Write(buf[:]); err != nil {
		return fmt.Errorf("server write: %w", err)
	}
	if n, err := c.Read(buf[:]); err != io.EOF {
		return fmt.Errorf("server: read %d bytes (%v) where the client's FIN was due", n, err)
	}
	return c.Close()
}

// wait waits for n connections' results and returns the first error.
func (srv *server) wait(ctx context.Context, n int) error {
	var first error
	for range n {
		err, cerr := recv(ctx, srv.results)
		if cerr != nil {
			return fmt.Errorf("waiting for the server: %w", cerr)
		}
		if err != nil && first == nil {
			first = err
		}
	}
	return first
}

// stop closes the listener and waits for the accept loop to end.
func (srv *server) stop() {
	srv.ln.Close()
	<-srv.done
}

// lifecycle is one client connection of the churn protocol: connect,
// write a byte, read it back, close first.
func lifecycle(ctx context.Context, h interop.Host, addr string) error {
	c, err := h.Dial(ctx, "tcp4", addr)
	if err != nil {
		return err
	}
	c.SetDeadline(time.Now().Add(connTimeout))
	buf := [1]byte{'x'}
	if _, err := c.Write(buf[:]); err != nil {
		c.Close()
		return fmt.Errorf("client write: %w", err)
	}
	if _, err := io.ReadFull(c, buf[:]); err != nil {
		c.Close()
		return fmt.Errorf("client read: %w", err)
	}
	return c.Close()
}

// clients runs n lifecycles from h to addr with the given number of
// concurrent clients, and returns the first error.
func clients(ctx context.Context, h interop.Host, addr string, concurrency, n int) error {
	var next atomic.Int64
	errs := make(chan error, concurrency)
	for range concurrency {
		go func() {
			for {
				if next.Add(1) > int64(n) {
					errs <- nil
					return
				}
				if err := lifecycle(ctx, h, addr); err != nil {
					next.Store(int64(n)) // stop the others
					errs <- err
					return
				}
			}
		}()
	}
	var first error
	for range concurrency {
		if err := <-errs; err != nil && first == nil {
			first = err
		}
	}
	return first
}

// churn runs n lifecycles with the given number of concurrent clients on
// a fresh pair and returns lifecycles per second: from the first Dial
// until the server has closed the last connection.
func churn(ctx context.Context, k interop.Kind, concurrency, n int) (float64, error) {
	p, _, err := newPair(k, interop.LinkConfig{}, interop.Config{})
	if err != nil {
		return 0, err
	}
	defer p.Close()
	ln, err := p.B.Listen("tcp4", serverAddr(80))
	if err != nil {
		return 0, err
	}
	srv := serve(ln, n)
	defer srv.stop()
	start := time.Now()
	if err := clients(ctx, p.A, serverAddr(80), concurrency, n); err != nil {
		return 0, err
	}
	if err := srv.wait(ctx, n); err != nil {
		return 0, err
	}
	return float64(n) / time.Since(start).Seconds(), nil
}

// handshake times n handshakes, one at a time, after a few to warm up,
// and returns the median in microseconds: from the Dial call until both
// Dial and Accept have returned.
func handshake(ctx context.Context, k interop.Kind, n int) (float64, error) {
	const warm = 20
	p, _, err := newPair(k, interop.LinkConfig{}, interop.Config{})
	if err != nil {
		return 0, err
	}
	defer p.Close()
	ln, err := p.B.Listen("tcp4", serverAddr(80))
	if err != nil {
		return 0, err
	}
	acc := make(chan interop.Conn)
	quit := make(chan struct{})
	accDone := make(chan struct{})
	go func() {
		defer close(accDone)
		for {
			c, err := ln.AcceptConn()
			if err != nil {
				return
			}
			select {
			case acc <- c:
			case <-quit:
				c.Close()
				return
			}
		}
	}()
	defer func() {
		close(quit)
		ln.Close()
		<-accDone
	}()
	addr := serverAddr(80)
	lat := make([]float64, 0, n)
	for i := range warm + n {
		t0 := time.Now()
		c, err := p.A.Dial(ctx, "tcp4", addr)
		if err != nil {
			return 0, err
		}
		s, err := recv(ctx, acc)
		d := time.Since(t0)
		if err != nil {
			c.Close()
			return 0, err
		}
		c.Close()
		s.Close()
		if i >= warm {
			lat = append(lat, float64(d)/float64(time.Microsecond))
		}
	}
	return median(lat), nil
}

// idleMem opens n connections and leaves them idle; it returns the heap
// bytes per endpoint (two per connection: the client's and the
// server's, each with its net.Conn) and the goroutines per connection,
// both over the baseline measured before the first Dial.
func idleMem(ctx context.Context, k interop.Kind, n int) (perEndpoint, goroutines float64, err error) {
	p, _, err := newPair(k, interop.LinkConfig{}, interop.Config{})
	if err != nil {
		return 0, 0, err
	}
	defer p.Close()
	ln, err := p.B.Listen("tcp4", serverAddr(80))
	if err != nil {
		return 0, 0, err
	}
	defer ln.Close()
	const dialers = 8
	cs := make([]interop.Conn, n)
	ss := make([]interop.Conn, n)
	accDone := make(chan error, 1)
	dialDone := make(chan error, dialers)
	var next atomic.Int64
	defer func() { // client ends first, then server ends; the stacks then stop at once
		for _, c := range cs {
			if c != nil {
				c.Close()
			}
		}
		for _, s := range ss {
			if s != nil {
				s.Close()
			}
		}
	}()

	time.Sleep(settle)
	base := heapAfterGC()
	g0 := runtime.NumGoroutine()

	go func() {
		for i := range n {
			c, err := ln.AcceptConn()
			if err != nil {
				accDone <- err
				return
			}
			ss[i] = c
		}
		accDone <- nil
	}()
	addr := serverAddr(80)
	for range dialers {
		go func() {
			for {
				i := next.Add(1) - 1
				if i >= int64(n) {
					dialDone <- nil
					return
				}
				c, err := p.A.Dial(ctx, "tcp4", addr)
				if err != nil {
					next.Store(int64(n))
					dialDone <- err
					return
				}
				cs[i] = c
			}
		}()
	}
	var first error
	for range dialers {
		if err := <-dialDone; err != nil && first == nil {
			first = err
		}
	}
	if first != nil {
		ln.Close() // ends the accept loop
		<-accDone
		return 0, 0, first
	}
	if err, cerr := recv(ctx, accDone); cerr != nil || err != nil {
		ln.Close()
		return 0, 0, errors.Join(err, cerr)
	}
	if err := sleep(ctx, settle); err != nil { // the last ACKs, and our goroutines' exit
		return 0, 0, err
	}
	g1 := runtime.NumGoroutine()
	heap := heapAfterGC()
	runtime.KeepAlive(cs)
	runtime.KeepAlive(ss)
	perEndpoint = (float64(heap) - float64(base)) / float64(2*n)
	goroutines = float64(g1-g0) / float64(n)
	return perEndpoint, goroutines, nil
}

// timewaitMem runs n lifecycles (8 clients at once; the client closes
// first, so that its end stays in TIME_WAIT for the stack's default 60
// seconds), waits until the client host lists exactly n connections in
// TIME_WAIT and nothing else, and returns the heap bytes per connection
// over the baseline measured before the first Dial. Both stacks get the
// ephemeral port range 1024-65535, room for 64,512 client ports.
func timewaitMem(ctx context.Context, k interop.Kind, n int) (float64, error) {
	cfg := interop.Config{
		TCPWave: []tcpwave.Option{tcpwave.WithStackOptions(func(o *stack.Options) {
			o.EphemeralLow, o.EphemeralHigh = 1024, 65535
		})},
		GVisor: []interop.GVisorOption{func(s *gstack.Stack) error {
			if err := s.SetPortRange(1024, 65535); err != nil {
				return fmt.Errorf("set port range: %s", err)
			}
			return nil
		}},
	}
	if n > 65535-1024+1 {
		return 0, fmt.Errorf("%d connections do not fit in 64,512 ports", n)
	}
	p, _, err := newPair(k, interop.LinkConfig{}, cfg)
	if err != nil {
		return 0, err
	}
	defer p.Close()
	ln, err := p.B.Listen("tcp4", serverAddr(80))
	if err != nil {
		return 0, err
	}
	srv := serve(ln, n)
	defer srv.stop()

	time.Sleep(settle)
	base := heapAfterGC()
	if err := clients(ctx, p.A, serverAddr(80), 8, n); err != nil {
		return 0, err
	}
	if err := srv.wait(ctx, n); err != nil {
		return 0, err
	}
	if err := waitTimeWait(ctx, p, n); err != nil {
		return 0, err
	}
	heap := heapAfterGC()
	return (float64(heap) - float64(base)) / float64(n), nil
}

// waitTimeWait polls until the client (A) lists n connections in
// TIME_WAIT and no other connection, and the server (B) lists only its
// listener.
func waitTimeWait(ctx context.Context, p *interop.Pair, n int) error {
	var last string
	for {
		a, err := interop.StateCounts(p.A)
		if err != nil {
			return err
		}
		b, err := interop.StateCounts(p.B)
		if err != nil {
			return err
		}
		ok := a[tcp.TimeWait] == n && len(a) == 1 && b[tcp.Listen] == 1 && len(b) == 1
		if ok {
			return nil
		}
		last = fmt.Sprintf("client %v, server %v", a, b)
		if err := sleep(ctx, 20*time.Millisecond); err != nil {
			return fmt.Errorf("waiting for %d connections in TIME_WAIT: %w (%s)", n, err, last)
		}
	}
}
