// Package stack is the sans-IO host: it owns the connections of one
// network host, demultiplexes arriving packets by 4-tuple, runs listeners
// with SYN and accept queues (and SYN cookies when the SYN queue
// overflows), allocates ports under Linux's bind rules, keeps TIME_WAIT as
// small records, answers strays with RST, counts what Linux's MIB counts,
// and turns segments into IP packets. Like package tcp it never reads a clock, starts
// a goroutine, takes a lock or does I/O: time comes in as an argument.
package stack

import (
	"fmt"
	"net/netip"
	"time"

	"github.com/tcpwave/tcpwave/clock"
	"github.com/tcpwave/tcpwave/tcp"
)

// Options configures a Stack. Start from DefaultOptions.
type Options struct {
	TCP           tcp.Config
	Addrs         []netip.Addr // the host's own addresses
	EphemeralLow  uint16       // ip_local_port_range, low end (32768)
	EphemeralHigh uint16       // ip_local_port_range, high end (60999)
	SomaxConn     int          // largest accept backlog (net.core.somaxconn, 4096)
	// MaxSynBacklog is tcp_max_syn_backlog. It matters only with
	// SynCookies 0: a listener then drops a SYN that finds its last
	// quarter taken (tcp_conn_request keeps it for peers proven alive).
	// With SYN cookies a listener's SYN queue holds as many half-open
	// connections as its backlog, whatever this says, as in Linux 4.4
	// and later. Linux sizes it from its established-connection hash, as
	// tcp_max_tw_buckets: max(128, buckets/128), 4096 beside the 262144
	// of MaxTimeWait (tcp_sk_init).
	MaxSynBacklog int
	// SynCookies is tcp_syncookies: 0 never answers with a SYN cookie (a
	// SYN that finds the SYN queue full is dropped), 1 answers with one
	// only when the SYN queue is full (Linux's default), 2 answers every
	// SYN with one and keeps no half-open connection at all.
	SynCookies int
	// MaxTimeWait is tcp_max_tw_buckets: the most TIME_WAIT records the
	// host keeps. A connection that reaches TIME_WAIT beyond it is closed
	// at once and counted in TCPTimeWaitOverflow. Linux sets half the
	// size of its established-connection hash: 262144 on a host with 16
	// GiB of memory. 0 keeps no TIME_WAIT at all.
	MaxTimeWait int
	// MaxOrphans is tcp_max_orphans: the most connections the host keeps
	// alive after the application closed them (FIN_WAIT_1, FIN_WAIT_2,
	// CLOSING, LAST_ACK; TIME_WAIT records do not count). A close() that
	// would make one more is answered, as Linux's tcp_close does, by
	// resetting that connection (RST) and counting it in
	// TCPAbortOnMemory. Linux sets it like tcp_max_tw_buckets: 262144 on
	// a host with 16 GiB of memory. 0 keeps no orphan at all.
	MaxOrphans int
	// RouteLocalnet is route_localnet: it lets 127/8 addresses be the
	// host's own and come and go on its link. Linux's default, off, drops
	// packets from or to them on any device but loopback as martian, and
	// a tcpwave host has only its link.
	RouteLocalnet bool
	// TWReuse is tcp_tw_reuse: whether connect() may take over the
	// 4-tuple of a TIME_WAIT record whose connection used timestamps,
	// once the record is TWReuseDelay old (Linux tcp_twsk_unique). 0
	// never, 1 always, 2 (Linux's default) only when the local or the
	// remote address is a loopback address. A tcpwave host is on a link
	// and has loopback addresses only with RouteLocalnet, so with 2 a
	// host on ordinary addresses never reuses. The new connection's ISN
	// is the record's SND.NXT + 65537 and it echoes the record's
	// TS.Recent; TWRecycled counts it. A socket bound by bind() takes
	// over such a record whatever TWReuse says, as in Linux.
	TWReuse int
	// TWReuseDelay is tcp_tw_reuse_delay (1 s): how long a TIME_WAIT
	// record must have existed before tcp_tw_reuse lets connect() take
	// over its 4-tuple. tcpwave reckons the age from the record's expiry
	// less TCP.TimeWait, so a record whose timer a retransmitted FIN
	// restarted counts from then.
	TWReuseDelay time.Duration
	TTL          uint8 // ip_default_ttl (64)
	MTU          int   // link MTU; packets are never larger (1500)
	// GSOMaxSize, if more than MTU, lets PollPacketGSO hand the link TCP
	// super-packets of up to this many bytes, IP header included: several
	// MTU-sized data segments of one connection under one header, for a
	// link that segments them or carries them whole (generic segmentation
	// offload; Linux's gso_max_size, 65536 on most devices). 0 is off.
	GSOMaxSize int
	// PartialChecksum is for a link with TCP checksum offload
	// (link.ChecksumOffloader), which completes each outgoing packet's TCP
	// checksum, as a NIC with NETIF_F_HW_CSUM does: PollPacket and
	// PollPacketGSO leave the checksum field holding only the
	// pseudo-header's sum (wire.EncodePacketPartial, Linux's
	// CHECKSUM_PARTIAL) and never sum the payload. Observers then see that
	// partial value in the field, as tcpdump on a Linux device with
	// checksum offload does. false (the default) sends complete checksums.
	PartialChecksum bool
	// RmemMax and WmemMax bound what SO_RCVBUF and SO_SNDBUF may ask
	// before Linux doubles it (net.core.rmem_max, net.core.wmem_max);
	// 0 means Linux's 212992.
	RmemMax, WmemMax int
	ISNKey           [16]byte // secret for RFC 6528 ISNs; the driver picks it (random for real hosts)
	// ISN, if set, replaces RFC 6528's ISN generator: for tests and
	// scenarios that need colliding sequence numbers. Never set it on a
	// real network.
	ISN func(now clock.Instant, t Tuple) uint32
}

// defaultMemMax is Linux's default net.core.rmem_max and wmem_max.
const defaultMemMax = 212992

// DefaultOptions returns Linux's defaults for the given addresses.
func DefaultOptions(addrs ...netip.Addr) Options {
	return Options{
		TCP:           tcp.DefaultConfig(),
		Addrs:         addrs,
		EphemeralLow:  32768,
		EphemeralHigh: 60999,
		SomaxConn:     4096,
		MaxSynBacklog: 4096,
		SynCookies:    1,
		MaxTimeWait:   262144,
		MaxOrphans:    262144,
		TWReuse:       2,
		TWReuseDelay:  time.Second,
		TTL:           64,
		MTU:           1500,
		RmemMax:       defaultMemMax,
		WmemMax:       defaultMemMax,
	}
}

// Validate reports the first option that is out of range.
func (o *Options) Validate() error {
	if err := o.TCP.Validate(); err != nil {
		return err
	}
	switch {
	case len(o.Addrs) == 0:
		return fmt.Errorf("stack: no local address")
	case o.EphemeralLow == 0 || o.EphemeralLow > o.EphemeralHigh:
		return fmt.Errorf("stack: bad ephemeral range %d-%d", o.EphemeralLow, o.EphemeralHigh)
	case o.SomaxConn < 1 || o.MaxSynBacklog < 1:
		return fmt.Errorf("stack: SomaxConn and MaxSynBacklog must be positive")
	case o.TWReuse < 0 || o.TWReuse > 2:
		return fmt.Errorf("stack: TWReuse %d is not 0, 1 or 2", o.TWReuse)
	case o.TWReuseDelay < 0:
		return fmt.Errorf("stack: negative TWReuseDelay")
	case o.SynCookies < 0 || o.SynCookies > 2:
		return fmt.Errorf("stack: SynCookies %d is not 0, 1 or 2", o.SynCookies)
	case len(o.Addrs) > maxAddrs:
		return fmt.Errorf("stack: %d local addresses, more than %d", len(o.Addrs), maxAddrs)
	case o.RmemMax < 0 || o.WmemMax < 0 || o.RmemMax > 1<<30 || o.WmemMax > 1<<30:
		return fmt.Errorf("stack: RmemMax or WmemMax out of range [0, 1 GiB]")
	case o.MaxTimeWait < 0 || o.MaxOrphans < 0:
		return fmt.Errorf("stack: negative MaxTimeWait or MaxOrphans")
	case o.MTU < 40+20+88 || o.MTU > 65535: // room for an 88-byte MSS over IPv6
		return fmt.Errorf("stack: MTU %d out of range", o.MTU)
	case o.GSOMaxSize != 0 && (o.GSOMaxSize < o.MTU || o.GSOMaxSize > 65535):
		return fmt.Errorf("stack: GSOMaxSize %d out of range [MTU %d, 65535]", o.GSOMaxSize, o.MTU)
	}
	for _, a := range o.Addrs {
		switch {
		case !a.IsValid() || a.IsUnspecified() || a.IsMulticast() || a == ipv4Broadcast || a.Is4In6():
			return fmt.Errorf("stack: bad local address %v: not a unicast address", a)
		case a.Is6() && a.IsLoopback():
			return fmt.Errorf("stack: bad local address %v: a tcpwave host is on a link, where Linux drops ::1 (ip6_rcv_core)", a)
		case a.IsLoopback() && !o.RouteLocalnet:
			return fmt.Errorf("stack: local address %v is a loopback address: a tcpwave host is on a link, where Linux drops 127/8 as martian unless route_localnet is set (Options.RouteLocalnet)", a)
		}
	}
	return nil
}

// Tuple names a connection from this host's side.
type Tuple struct {
	Local, Remote netip.AddrPort
}

// Observer hears every packet the stack sends and receives and every state
// change of its connections (TIME_WAIT records included). A Stack calls it
// synchronously; it must not call back into the Stack.
type Observer interface {
	PacketSent(now clock.Instant, pkt []byte)
	PacketReceived(now clock.Instant, pkt []byte)
	PacketDropped(now clock.Instant, pkt []byte, err error)
	StateChanged(now clock.Instant, t Tuple, from, to tcp.State, why string)
}

// Counters are the counters of Linux's MIB (nstat, /proc/net/snmp and
// /proc/net/netstat) that tcpwave's input and the connection lifecycle
// move, each incremented where Linux increments it, except where a field
// says otherwise. NstatRows lists them under nstat's names.
type Counters struct {
	// The Ip group (RFC 4293), for the packets the host drops before TCP
	// sees them. Linux keeps IPv6's apart (Ip6InHdrErrors, ...); tcpwave
	// counts both families here.
	InHdrErrors uint64 // bad or truncated IP headers, IPv4 options included (ip_rcv_core, ip_options_compile, ip6_rcv_core)
	// InAddrErrors counts packets for an address that is not the
	// host's, and from or to a martian address (a source that is
	// unspecified, broadcast, multicast, loopback or the host's own).
	// Linux counts the IPv4 martians only in /proc/net/stat/rt_cache
	// (in_martian_src, in_martian_dst), which nstat does not show.
	InAddrErrors    uint64
	InUnknownProtos uint64 // packets of a protocol other than TCP
	InDiscards      uint64 // IPv4 fragments, which tcpwave does not reassemble

	// The Tcp group (RFC 1213, RFC 4022).
	ActiveOpens  uint64 // connect() calls that sent a SYN (tcp_connect)
	PassiveOpens uint64 // connections made by a listener, SYN cookies included (tcp_create_openreq_child)
	AttemptFails uint64 // opens failed by RST, SYN or timeout; see tcp.Counts
	EstabResets  uint64 // ESTABLISHED or CLOSE_WAIT straight to CLOSED, for any reason (tcp_set_state)
	InSegs       uint64 // segments received for the host, bad ones included (tcp_v4_rcv)
	OutSegs      uint64 // segments sent
	RetransSegs  uint64 // segments sent again
	InErrs       uint64 // segments with a bad checksum or data offset, and SYNs that reach an ESTABLISHED connection
	OutRsts      uint64 // RSTs sent
	InCsumErrors uint64 // segments with a bad checksum

	// The TcpExt group (Linux's own).
	SyncookiesSent   uint64 // SYN-ACKs that carried a SYN cookie
	SyncookiesRecv   uint64 // ACKs that returned a valid cookie
	SyncookiesFailed uint64 // ACKs checked as a cookie that was not valid
	TW               uint64 // connections that entered TIME_WAIT (inet_twsk_schedule)
	// TWRecycled counts TIME_WAIT records whose 4-tuple connect() took
	// over (tcp_tw_reuse, Options.TWReuse; Linux __inet_check_established)
	// and, in tcpwave only, records a new SYN reopened (RFC 6191), which
	// Linux does not count.
	TWRecycled uint64
	// TWKilled counts TIME_WAIT records a RST removed (tcp_rfc1337=0).
	// Linux counts here records scheduled with a timeout under 4 s.
	TWKilled        uint64
	ListenOverflows uint64 // SYNs and ACKs dropped because the accept queue was full
	ListenDrops     uint64 // every SYN or handshake ACK a listener dropped (tcp_listendrop)
	// TCPAbortOnData counts RSTs for data that arrived after close()
	// (RFC 1122 §4.2.2.13) and, as Linux does, close() with SO_LINGER 0.
	TCPAbortOnData    uint64
	TCPAbortOnClose   uint64 // close() with unread data: RST (RFC 2525 §2.17)
	TCPAbortOnMemory  uint64 // connections reset by close() beyond MaxOrphans (tcp_check_oom)
	TCPAbortOnTimeout uint64 // connections whose retries ran out (tcp_write_err)
	// TCPAbortOnLinger counts close() in FIN_WAIT_2 with TCP_LINGER2
	// below 0 (tcp_close) and, in tcpwave, close() with SO_LINGER 0,
	// which Linux counts in TCPAbortOnData.
	TCPAbortOnLinger    uint64
	TCPTimeWaitOverflow uint64 // connections closed without TIME_WAIT: MaxTimeWait reached
	TCPChallengeACK     uint64 // challenge ACKs sent (RFC 5961)
	PAWSEstab           uint64 // segments dropped by PAWS as old duplicates (RFC 7323 §5)
	TCPRenoRecovery     uint64 // fast recoveries without SACK (NewReno, RFC 6582)
	TCPSackRecovery     uint64 // fast recoveries with SACK (RFC 6675)
	// TCPLostRetransmit counts retransmissions found lost again, by
	// RACK (RFC 8985) or at an RTO (tcp_mark_skb_lost).
	TCPLostRetransmit uint64
	TCPTimeouts       uint64 // retransmission-timer expirations
	TCPDSACKOldSent   uint64 // D-SACKs sent for duplicates below RCV.NXT (RFC 2883)
	TCPDSACKOfoSent   uint64 // D-SACKs sent for duplicate out-of-order data
	TCPDSACKRecv      uint64 // D-SACK blocks received
	TCPLossProbes     uint64 // tail loss probes sent (RFC 8985)
	// TCPLossProbeRecovery counts probes that repaired a loss.
	TCPLossProbeRecovery uint64
	// TCPSackRecoveryFail counts SACK recoveries that ended in an RTO.
	TCPSackRecoveryFail uint64
	TCPKeepAlive        uint64 // keepalive probes sent (tcp_keepalive_timer)
	// TCPACKSkippedTimeWait counts ACKs a TIME_WAIT record did not send
	// because of the out-of-window ACK rate limit (tcp_oow_rate_limited).
	TCPACKSkippedTimeWait uint64
	// TCPMD5Unexpected counts segments dropped for carrying a TCP MD5
	// signature (RFC 2385) to a socket with no key: every socket here.
	TCPMD5Unexpected uint64

	// tcpwave's own, after Linux's.

	// TCPWaveEncodeDrops counts segments dropped because they could not
	// be built into a packet (wire.EncodePacket failed: a buffer given to
	// PollPacket too small for them). They are lost as on the wire: a
	// connection's segment is retransmitted in time, a RST or a TIME_WAIT
	// ACK is not. Linux has no such counter; its nstat row is
	// TcpExtTCPWaveEncodeDrops.
	TCPWaveEncodeDrops uint64
}

// add adds a connection's counts.
func (c *Counters) add(k tcp.Counts) {
	c.RetransSegs += uint64(k.RetransSegs)
	c.AttemptFails += uint64(k.AttemptFails)
	c.InErrs += uint64(k.InErrs)
	c.TCPChallengeACK += uint64(k.ChallengeACK)
	c.TCPAbortOnData += uint64(k.AbortOnData)
	c.TCPAbortOnTimeout += uint64(k.AbortOnTimeout)
	c.PAWSEstab += uint64(k.PAWSEstab)
	c.TCPRenoRecovery += uint64(k.RenoRecovery)
	c.TCPSackRecovery += uint64(k.SACKRecovery)
	c.TCPTimeouts += uint64(k.Timeouts)
	c.TCPDSACKOldSent += uint64(k.DSACKOldSent)
	c.TCPDSACKOfoSent += uint64(k.DSACKOfoSent)
	c.TCPDSACKRecv += uint64(k.DSACKRecv)
	c.TCPLossProbes += uint64(k.LossProbes)
	c.TCPLossProbeRecovery += uint64(k.LossProbeRecovery)
	c.TCPKeepAlive += uint64(k.KeepAlive)
	c.TCPLostRetransmit += uint64(k.LostRetransmit)
	c.TCPSackRecoveryFail += uint64(k.SACKRecoveryFail)
	c.TCPAbortOnLinger += uint64(k.AbortOnLinger)
}

// NstatRow is one counter under the name nstat gives it.
type NstatRow struct {
	Name  string // "TcpActiveOpens", "TcpExtSyncookiesSent", ...
	Value uint64
}

// NstatRows lists the counters under nstat's names, in the order nstat
// prints them (/proc/net/snmp's Ip and Tcp lines, then /proc/net/netstat's
// TcpExt line), then tcpwave's own.
func (c *Counters) NstatRows() []NstatRow {
	return []NstatRow{
		{"IpInHdrErrors", c.InHdrErrors},
		{"IpInAddrErrors", c.InAddrErrors},
		{"IpInUnknownProtos", c.InUnknownProtos},
		{"IpInDiscards", c.InDiscards},
		{"TcpActiveOpens", c.ActiveOpens},
		{"TcpPassiveOpens", c.PassiveOpens},
		{"TcpAttemptFails", c.AttemptFails},
		{"TcpEstabResets", c.EstabResets},
		{"TcpInSegs", c.InSegs},
		{"TcpOutSegs", c.OutSegs},
		{"TcpRetransSegs", c.RetransSegs},
		{"TcpInErrs", c.InErrs},
		{"TcpOutRsts", c.OutRsts},
		{"TcpInCsumErrors", c.InCsumErrors},
		{"TcpExtSyncookiesSent", c.SyncookiesSent},
		{"TcpExtSyncookiesRecv", c.SyncookiesRecv},
		{"TcpExtSyncookiesFailed", c.SyncookiesFailed},
		{"TcpExtTW", c.TW},
		{"TcpExtTWRecycled", c.TWRecycled},
		{"TcpExtTWKilled", c.TWKilled},
		{"TcpExtListenOverflows", c.ListenOverflows},
		{"TcpExtListenDrops", c.ListenDrops},
		{"TcpExtTCPAbortOnData", c.TCPAbortOnData},
		{"TcpExtTCPAbortOnClose", c.TCPAbortOnClose},
		{"TcpExtTCPAbortOnMemory", c.TCPAbortOnMemory},
		{"TcpExtTCPAbortOnTimeout", c.TCPAbortOnTimeout},
		{"TcpExtTCPAbortOnLinger", c.TCPAbortOnLinger},
		{"TcpExtTCPTimeWaitOverflow", c.TCPTimeWaitOverflow},
		{"TcpExtTCPChallengeACK", c.TCPChallengeACK},
		{"TcpExtPAWSEstab", c.PAWSEstab},
		{"TcpExtTCPRenoRecovery", c.TCPRenoRecovery},
		{"TcpExtTCPSackRecovery", c.TCPSackRecovery},
		{"TcpExtTCPLostRetransmit", c.TCPLostRetransmit},
		{"TcpExtTCPTimeouts", c.TCPTimeouts},
		{"TcpExtTCPDSACKOldSent", c.TCPDSACKOldSent},
		{"TcpExtTCPDSACKOfoSent", c.TCPDSACKOfoSent},
		{"TcpExtTCPDSACKRecv", c.TCPDSACKRecv},
		{"TcpExtTCPLossProbes", c.TCPLossProbes},
		{"TcpExtTCPLossProbeRecovery", c.TCPLossProbeRecovery},
		{"TcpExtTCPSackRecoveryFail", c.TCPSackRecoveryFail},
		{"TcpExtTCPKeepAlive", c.TCPKeepAlive},
		{"TcpExtTCPACKSkippedTimeWait", c.TCPACKSkippedTimeWait},
		{"TcpExtTCPMD5Unexpected", c.TCPMD5Unexpected},
		{"TcpExtTCPWaveEncodeDrops", c.TCPWaveEncodeDrops},
	}
}

// Stack is one host's TCP. It is not safe for concurrent use: one
// goroutine (or the simulator) drives it.
type Stack struct {
	opts *Options
	obs  Observer
	sip  sipKey // Options.ISNKey, for the keyed hashes (hash32)

	conns     map[Tuple]*Socket
	listeners map[netip.AddrPort][]*Socket
	tw        twTable              // TIME_WAIT records
	bound     map[uint16][]*Socket // port -> sockets holding it (Socket.boundIdx; records: tw)
	nextPort  uint16               // where bind() to port 0 searches next
	// bindPorts counts, per port, the sockets that hold it but did not
	// get it from connect()'s search: connect() does not take it.
	bindPorts twPorts
	perturb   []uint32             // connect()'s port perturbation table (Linux table_perturb), perturbSize slots once used
	portSeq   uint32               // connect() searches so far: the counter of their random skip
	hot       map[Tuple]*destPorts // the destinations with an index of their ports (destOf)
	timers    timerWheel
	dirty     []*Socket // sockets that may have segments to send
	ctl       []ctlSeg  // stack-made segments (RSTs, TIME_WAIT ACKs, cookie SYN-ACKs)
	ctlHead   int       // ctl[:ctlHead] has been sent
	touched   []*Socket // sockets whose readiness may have changed
	// touchedSpare is the array Touched handed out last time.
	touchedSpare []*Socket
	dirtyHead    int // dirty[:dirtyHead] has been polled
	// tcp4 and tcp6 are Options.TCP with the MSS clamped to what the
	// MTU allows for each IP version (Linux derives the MSS from the
	// route's MTU).
	tcp4, tcp6 tcp.Config
	// losses keeps the loss states of connections the stack forgot
	// (detach) for its new ones (Socket.LossCache).
	losses  tcp.LossCache
	ipID    uint16
	seg     tcp.Segment
	payload []byte // scratch for the payload of the segment being sent (MSS bytes; with GSO, a burst's)
	// gsoPend is the connection whose segment in seg could not join the
	// last super-packet: PollPacketGSO sends it next.
	gsoPend   *Socket
	counters  Counters
	closedAll bool
	orphans   int // connections closed by the application and not yet gone
	// twKept is the number of TIME_WAIT records the stack held when
	// SetOptions last lowered MaxTimeWait below them (0 if it never
	// did): they stay, so the table may be over MaxTimeWait up to it.
	twKept int
}

// ctlSeg is a segment the stack itself answers with.
type ctlSeg struct {
	t   Tuple
	seg tcp.Segment
}

// New creates a stack. The observer may be nil.
func New(opts Options, obs Observer) (*Stack, error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	o := opts
	o.Addrs = append([]netip.Addr(nil), opts.Addrs...)
	s := &Stack{
		opts:      &o,
		obs:       obs,
		conns:     make(map[Tuple]*Socket),
		listeners: make(map[netip.AddrPort][]*Socket),
		sip:       newSipKey(o.ISNKey),
		tw:        newTWTable(o.ISNKey),
		bound:     make(map[uint16][]*Socket),
		payload:   make([]byte, max(int(o.TCP.MSS), 536)+max(o.GSOMaxSize, 0)), // a connection's MSS is at most this (536 before the handshake)
	}
	s.setTCPConfigs(&o)
	s.nextPort = o.EphemeralLow + uint16(s.hash32(Tuple{}, 3)%uint32(o.EphemeralHigh-o.EphemeralLow+1))
	return s, nil
}

// setTCPConfigs derives the connections' configurations for IPv4 and
// IPv6 from o.TCP, assigning in place (connections point to them): the
// MSS clamped to what the MTU allows for each IP version (Linux derives
// it from the route's MTU), and IPv6's default peer MSS.
func (s *Stack) setTCPConfigs(o *Options) {
	s.tcp4, s.tcp6 = o.TCP, o.TCP
	s.tcp4.MSS = min(o.TCP.MSS, uint16(o.MTU-20-20))
	s.tcp6.MSS = min(o.TCP.MSS, uint16(o.MTU-40-20))
	s.tcp6.DefaultMSS = tcp.IPv6MinMSS // Linux's mss_clamp in IPv6 (tcp_v6_connect, tcp_request_sock_ipv6_ops)
}

// tcpConfig is the connection configuration for a local address.
func (s *Stack) tcpConfig(local netip.Addr) *tcp.Config {
	if local.Is4() {
		return &s.tcp4
	}
	return &s.tcp6
}

// Options returns the stack's options (read-only).
func (s *Stack) Options() *Options { return s.opts }

// Orphans returns the number of orphaned connections: closed by the
// application, still finishing their close (the "orphan" of Linux's
// /proc/net/sockstat; MaxOrphans bounds it).
func (s *Stack) Orphans() int { return s.orphans }

// Counters returns the MIB counters.
func (s *Stack) Counters() Counters { return s.counters }

// hasAddr reports whether a is one of the host's addresses.
func (s *Stack) hasAddr(a netip.Addr) bool {
	for _, x := range s.opts.Addrs {
		if x == a {
			return true
		}
	}
	return false
}

// Deadline returns when HandleTimeout must next be called. It is the
// earliest timer's exact deadline, except that with many thousands of
// timers set far ahead it may be a little earlier than any of them: calling
// HandleTimeout then does nothing but makes the next answer exact. It is
// never later than a deadline, and after HandleTimeout(now) it is after now.
func (s *Stack) Deadline() clock.Instant {
	d := s.timers.min()
	if i := s.tw.first(); i != 0 {
		d = clock.Min(d, s.tw.at(i).expire)
	}
	return d
}

// HandleTimeout runs every timer due at now.
func (s *Stack) HandleTimeout(now clock.Instant) {
	for {
		so := s.timers.popDue(now)
		if so == nil {
			break
		}
		so.conn.HandleTimeout(now)
		s.after(so)
	}
	s.expireTimeWait(now)
}

// Touched returns, and forgets, the sockets whose readiness may have
// changed since the last call: the driver wakes their waiters. The slice is
// valid until the next call (two arrays take turns, so that steady-state
// steps do not allocate).
func (s *Stack) Touched() []*Socket {
	t := s.touched
	spare := s.touchedSpare
	clear(spare) // the driver is done with it: keep no closed socket alive
	s.touched, s.touchedSpare = spare[:0], t
	for _, so := range t {
		so.isTouched = false
	}
	return t
}

func (s *Stack) touch(so *Socket) {
	if !so.isTouched {
		so.isTouched = true
		s.touched = append(s.touched, so)
	}
}

// after runs once the network or a timer has acted on a connection: it
// queues the socket for output, refreshes its timer, and notes that its
// readiness may have changed. A listener's readiness (Acceptable) changes
// only when a connection joins its accept queue, which touches it
// (StateChanged): an embryonic connection's other steps, a SYN among
// them, wake no Accept.
func (s *Stack) after(so *Socket) {
	s.afterUser(so)
	s.touch(so)
}

// afterUser runs after a user call on a connection, and after the
// network or a timer acted on one (after): it queues the socket for
// output, refreshes its timer and, when the call made the socket readier
// than it was (readable, writable or connected where it was not: a
// shutdown, a larger buffer), touches it, since another handle's call may
// be waiting for that. A call that only made it less ready (a Read that
// drained it, a Write that filled it) touches nothing.
func (s *Stack) afterUser(so *Socket) {
	if !so.isDirty {
		so.isDirty = true
		s.dirty = append(s.dirty, so)
	}
	s.timers.update(so, so.conn.Deadline())
	r := so.readiness()
	if r&^so.ready != 0 {
		s.touch(so)
	}
	so.ready = r
}

// Readiness bits (Socket.ready).
const (
	readyRead    = 1 << iota // Readable
	readyWrite               // Writable
	readyConnect             // Connected
)

// readiness is the socket's readiness as bits.
func (so *Socket) readiness() uint8 {
	var r uint8
	if so.Readable() {
		r |= readyRead
	}
	if so.Writable() {
		r |= readyWrite
	}
	if so.Connected() {
		r |= readyConnect
	}
	return r
}

// Connections lists every connection, listener and TIME_WAIT record, the
// rows `ss -tan -o` would print, at the instant now.
func (s *Stack) Connections(now clock.Instant) []ConnInfo {
	var rows []ConnInfo
	for ap, ls := range s.listeners {
		for _, l := range ls {
			rows = append(rows, ConnInfo{State: tcp.Listen, RecvQ: len(l.acceptQ), SendQ: l.backlog, Local: ap})
		}
	}
	for t, so := range s.conns {
		c := so.conn
		row := ConnInfo{State: c.State(), RecvQ: c.RecvQ(), SendQ: c.SendQ(), Local: t.Local, Peer: t.Remote, Retransmit: c.Retransmits(), TCP: c.Info()}
		if name, at := c.TimerInfo(); name != "" && name != "delack" {
			row.Timer, row.TimerLeft = name, max(at.Sub(now), 0)
			if name == "keepalive" {
				row.Retransmit = c.KeepAliveProbesOut() // ss shows probes_out for this timer
			}
		}
		rows = append(rows, row)
	}
	for i := 1; i <= s.tw.len(); i++ {
		t := s.twTuple(uint32(i))
		left := max(s.tw.at(uint32(i)).expire.Sub(now), 0)
		rows = append(rows, ConnInfo{State: tcp.TimeWait, Local: t.Local, Peer: t.Remote, Timer: "timewait", TimerLeft: left})
	}
	sortRows(rows)
	return rows
}

// Settled reports whether every connection has finished or waits in
// TIME_WAIT, with no listener left: the rows of Connections would all be
// TIME_WAIT. It costs a look at each live connection, not a list of every
// row.
func (s *Stack) Settled() bool {
	for _, ls := range s.listeners {
		if len(ls) > 0 {
			return false
		}
	}
	for _, so := range s.conns {
		if so.conn.State() != tcp.TimeWait {
			return false
		}
	}
	return true
}

// Idle reports whether the stack holds no connection, listener or
// TIME_WAIT record and has nothing to send.
func (s *Stack) Idle() bool {
	return len(s.conns) == 0 && len(s.listeners) == 0 && s.tw.len() == 0 && s.ctlHead == len(s.ctl) && len(s.dirty) == 0
}

// stateChanged relays a connection's state change to the observer and
// updates counters.
func (s *Stack) stateChanged(now clock.Instant, so *Socket, from, to tcp.State, why string) {
	switch {
	case to == tcp.SynSent && from == tcp.Closed:
		s.counters.ActiveOpens++ // Linux tcp_connect
	case to == tcp.Established && from == tcp.SynRcvd && so.parent != nil:
		s.counters.PassiveOpens++ // Linux tcp_create_openreq_child
	case to == tcp.Closed && (from == tcp.Established || from == tcp.CloseWait):
		s.counters.EstabResets++ // Linux tcp_set_state
	}
	if s.obs != nil {
		s.obs.StateChanged(now, so.tuple, from, to, why)
	}
}
