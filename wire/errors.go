package wire

import (
	"errors"
	"strconv"
	"strings"
)

// Sentinel causes carried by a *ParseError. Test for them with errors.Is.
var (
	// ErrTruncated means the input ended before a header or a length it
	// announces was complete.
	ErrTruncated = errors.New("wire: truncated")
	// ErrBadLength means a length field is impossible (IPv4 IHL below 5,
	// IPv4 total length shorter than its header, TCP data offset below 5 or
	// beyond the segment).
	ErrBadLength = errors.New("wire: bad length field")
	// ErrBadVersion means the IP version nibble is not the expected one.
	ErrBadVersion = errors.New("wire: bad IP version")
	// ErrBadChecksum means an IPv4 header checksum or a TCP checksum does
	// not verify.
	ErrBadChecksum = errors.New("wire: bad checksum")
	// ErrBadOption means a TCP option is malformed: a length below 2 or an
	// option running past the header (ScanAuthOptions; ParseTCP, like
	// Linux, reads such options without failing).
	ErrBadOption = errors.New("wire: bad TCP option")
	// ErrBadIPOption means an IPv4 option is malformed as Linux's
	// ip_options_compile judges it (see CheckIPv4Options).
	ErrBadIPOption = errors.New("wire: bad IPv4 option")
	// ErrNotTCP means the IP packet does not carry TCP (IPv4 protocol or
	// IPv6 next header other than 6).
	ErrNotTCP = errors.New("wire: not TCP")
	// ErrFragment means the IPv4 packet is a fragment (MF set or a non-zero
	// fragment offset); this package does not reassemble.
	ErrFragment = errors.New("wire: IP fragment")
	// ErrBadAddress means an address cannot be used: when parsing, an IPv6
	// packet carrying an IPv4-mapped address; when building, an invalid
	// address or a source and destination of different families.
	ErrBadAddress = errors.New("wire: bad address")
)

// Errors returned, unwrapped, by the Encode functions.
var (
	// ErrBufferTooSmall means the destination buffer cannot hold the
	// header or packet being built.
	ErrBufferTooSmall = errors.New("wire: buffer too small")
	// ErrOptionsTooLong means the TCP options do not fit in the 40 bytes a
	// TCP header allows.
	ErrOptionsTooLong = errors.New("wire: TCP options longer than 40 bytes")
	// ErrPacketTooLong means the packet would exceed the 16-bit length
	// field of its IP header.
	ErrPacketTooLong = errors.New("wire: packet too long")
)

// ParseError describes why input could not be parsed.
type ParseError struct {
	// Layer is the header being parsed: "ip" (version not recognised),
	// "ipv4", "ipv4 option", "ipv6", "tcp" or "tcp option".
	Layer string
	// Reason is one of the sentinel errors above (ErrTruncated, ...).
	Reason error
	// Offset is the byte offset, in the buffer given to the Parse function,
	// of the field or byte where the problem was found.
	Offset int
}

// Error returns a message such as "wire: tcp option: bad TCP option at
// offset 22".
func (e *ParseError) Error() string {
	reason := "unknown error"
	if e.Reason != nil {
		reason = strings.TrimPrefix(e.Reason.Error(), "wire: ")
	}
	return "wire: " + e.Layer + ": " + reason + " at offset " + strconv.Itoa(e.Offset)
}

// Unwrap returns the sentinel cause, so errors.Is(err, ErrTruncated) works.
func (e *ParseError) Unwrap() error { return e.Reason }

func parseErr(layer string, reason error, off int) error {
	return &ParseError{Layer: layer, Reason: reason, Offset: off}
}
