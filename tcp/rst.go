package tcp

import (
	"github.com/tcpwave/tcpwave/seq"
	"github.com/tcpwave/tcpwave/wire"
)

// rstState is a RST waiting to be sent, built from a segment we refuse or
// by an abort (the rstActive flag).
type rstState struct {
	sq    seq.Value
	ack   seq.Value
	flags wire.Flags
	wnd   uint16 // the window field of an active RST
}

// queueRST arranges for a RST to be sent by the next Poll.
func (c *Conn) queueRST(sq, ack seq.Value, flags wire.Flags) {
	c.flags.set(rstPending)
	c.flags.clear(rstActive)
	c.rst.sq, c.rst.ack, c.rst.flags = sq, ack, flags
}

// queueActiveRST queues the RST a connection sends of its own accord
// (close() with unread data, SO_LINGER 0, too many orphans). Linux sends
// it through its normal output path (tcp_send_active_reset, then
// tcp_transmit_skb), so unlike a RST answering a segment it carries the
// receive window (tcp_select_window: the edge offered so far, with the
// unread data counted as freed) and the connection's options: the
// timestamp, echoing TS.Recent, and any SACK blocks.
func (c *Conn) queueActiveRST() {
	c.queueRST(c.sndMax, c.rcvNxt, wire.RST|wire.ACK)
	c.flags.set(rstActive)
	c.rst.wnd = c.offerWindow(c.rcvSpace())
}
