//go:build linux

package tun

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"time"

	"golang.org/x/sys/unix"
)

// netlinkTimeout bounds the wait for the kernel's answer to a request.
const netlinkTimeout = 5 * time.Second

// localWait bounds how long AddAddress waits for the kernel to route a
// new address to itself (IPv6 does it from a work queue, which a loaded
// machine runs late).
const localWait = 5 * time.Second

// Polls of the route start this far apart and back off to maxPollGap.
const (
	minPollGap = time.Millisecond
	maxPollGap = 20 * time.Millisecond
)

// maxNetlinkReplies bounds how many stray messages a request skips while
// it looks for its answer.
const maxNetlinkReplies = 16

// AddAddress gives the kernel's side of the device the address p.Addr()
// with its prefix, as "ip addr add P dev NAME nodad" does: the kernel
// then owns that address and routes the rest of p.Masked() into the
// device. IPv6 addresses skip duplicate address detection
// (IFA_F_NODAD), and AddAddress returns once the kernel routes the
// address to itself, so that it is usable at once. It works from any
// goroutine, in the device's namespace.
func (d *Device) AddAddress(p netip.Prefix) error {
	if !p.IsValid() {
		return fmt.Errorf("link/tun: AddAddress: invalid prefix %v", p)
	}
	addr := p.Addr().Unmap()
	family := byte(unix.AF_INET6)
	if addr.Is4() {
		family = unix.AF_INET
	}
	bits := p.Bits()
	if p.Addr().Is4In6() {
		if bits -= 96; bits < 0 {
			return fmt.Errorf("link/tun: AddAddress: prefix %v is wider than the IPv4-mapped space", p)
		}
	}
	raw := addr.AsSlice()

	msg := make([]byte, 0, 64)
	msg = binary.NativeEndian.AppendUint32(msg, 0) // length, set by request
	msg = binary.NativeEndian.AppendUint16(msg, unix.RTM_NEWADDR)
	msg = binary.NativeEndian.AppendUint16(msg,
		unix.NLM_F_REQUEST|unix.NLM_F_ACK|unix.NLM_F_CREATE|unix.NLM_F_EXCL)
	msg = binary.NativeEndian.AppendUint32(msg, 0) // sequence, set by request
	msg = binary.NativeEndian.AppendUint32(msg, 0) // port ID: the kernel's
	// struct ifaddrmsg
	msg = append(msg, family, byte(bits), unix.IFA_F_NODAD, unix.RT_SCOPE_UNIVERSE)
	msg = binary.NativeEndian.AppendUint32(msg, uint32(d.index))
	msg = appendAttr(msg, unix.IFA_LOCAL, raw)
	msg = appendAttr(msg, unix.IFA_ADDRESS, raw)
	msg = appendAttr(msg, unix.IFA_FLAGS, binary.NativeEndian.AppendUint32(nil, unix.IFA_F_NODAD))
	if _, err := d.request(msg); err != nil {
		return fmt.Errorf("link/tun: add address %v to %s: %w", p, d.name, err)
	}
	if err := d.waitLocal(addr); err != nil {
		return fmt.Errorf("link/tun: add address %v to %s: %w", p, d.name, err)
	}
	return nil
}

// appendAttr appends a netlink attribute (struct rtattr and its value,
// padded to four bytes).
func appendAttr(b []byte, typ uint16, val []byte) []byte {
	b = binary.NativeEndian.AppendUint16(b, uint16(unix.SizeofRtAttr+len(val)))
	b = binary.NativeEndian.AppendUint16(b, typ)
	b = append(b, val...)
	for len(b)%unix.NLMSG_ALIGNTO != 0 {
		b = append(b, 0)
	}
	return b
}

// waitLocal waits until the kernel routes addr to itself. IPv4 does so
// as the address is added; IPv6 installs the local route from a work
// queue a moment later (where DAD would have run), and until then it
// drops what arrives for addr (Ip6InAddrErrors).
func (d *Device) waitLocal(addr netip.Addr) error {
	family, bits := byte(unix.AF_INET6), byte(128)
	if addr.Is4() {
		family, bits = unix.AF_INET, 32
	}
	msg := make([]byte, 0, 64)
	msg = binary.NativeEndian.AppendUint32(msg, 0)
	msg = binary.NativeEndian.AppendUint16(msg, unix.RTM_GETROUTE)
	msg = binary.NativeEndian.AppendUint16(msg, unix.NLM_F_REQUEST)
	msg = binary.NativeEndian.AppendUint32(msg, 0)
	msg = binary.NativeEndian.AppendUint32(msg, 0)
	// struct rtmsg: family, dst_len, src_len, tos, table, protocol,
	// scope, type, flags.
	msg = append(msg, family, bits, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
	msg = appendAttr(msg, unix.RTA_DST, addr.AsSlice())
	return pollUntil(localWait, func() (bool, error) {
		reply, err := d.request(msg)
		if err != nil {
			return false, err
		}
		const typeAt = unix.SizeofNlMsghdr + 7 // rtmsg.rtm_type
		return len(reply) > typeAt && reply[typeAt] == unix.RTN_LOCAL, nil
	}, fmt.Sprintf("the kernel does not route %v to itself", addr))
}

// pollUntil calls cond until it reports true or an error, or until wait
// has passed (then the error says what, and after how long). The polls
// back off from minPollGap to maxPollGap, so their number is bounded by
// wait/minPollGap however fast cond answers.
func pollUntil(wait time.Duration, cond func() (bool, error), what string) error {
	start := time.Now()
	gap := minPollGap
	for range int(wait/minPollGap) + 1 {
		ok, err := cond()
		if ok || err != nil {
			return err
		}
		if time.Since(start) >= wait {
			break
		}
		time.Sleep(gap)
		gap = min(2*gap, maxPollGap)
	}
	return fmt.Errorf("%s after %v", what, time.Since(start).Round(time.Millisecond))
}

// request sends the netlink message msg (its length and sequence number
// are filled in here) and returns the kernel's answer: nil for an
// acknowledgement, the message otherwise, or the error it reports.
func (d *Device) request(msg []byte) ([]byte, error) {
	d.ctlMu.Lock()
	defer d.ctlMu.Unlock()
	if d.ctl < 0 {
		return nil, errClosed
	}
	d.seq++
	seq := d.seq
	binary.NativeEndian.PutUint32(msg[0:4], uint32(len(msg)))
	binary.NativeEndian.PutUint32(msg[8:12], seq)
	if err := unix.Sendto(d.ctl, msg, 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return nil, err
	}
	buf := make([]byte, 8192)
	for range maxNetlinkReplies {
		n, _, err := unix.Recvfrom(d.ctl, buf, 0)
		if err != nil {
			return nil, fmt.Errorf("waiting for the kernel's answer: %w", err)
		}
		if reply, found, err := answer(buf[:n], seq); found {
			return reply, err
		}
	}
	return nil, fmt.Errorf("no answer to netlink request %d", seq)
}

// answer looks in the datagram b for the answer to request seq and
// returns it (nil for an acknowledgement), whether it found it, and the
// error it carries.
func answer(b []byte, seq uint32) ([]byte, bool, error) {
	for len(b) >= unix.SizeofNlMsghdr {
		l := int(binary.NativeEndian.Uint32(b[0:4]))
		if l < unix.SizeofNlMsghdr || l > len(b) {
			return nil, false, nil
		}
		if binary.NativeEndian.Uint32(b[8:12]) == seq {
			if binary.NativeEndian.Uint16(b[4:6]) != unix.NLMSG_ERROR {
				return b[:l], true, nil
			}
			if l < unix.SizeofNlMsghdr+4 {
				return nil, true, errors.New("short netlink error message")
			}
			if errno := int32(binary.NativeEndian.Uint32(b[16:20])); errno != 0 {
				return nil, true, unix.Errno(-errno)
			}
			return nil, true, nil
		}
		l = (l + unix.NLMSG_ALIGNTO - 1) &^ (unix.NLMSG_ALIGNTO - 1)
		if l > len(b) {
			return nil, false, nil
		}
		b = b[l:]
	}
	return nil, false, nil
}
