package trace

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"strconv"
	"strings"

	"github.com/tcpwave/tcpwave/clock"
	"github.com/tcpwave/tcpwave/notation"
	"github.com/tcpwave/tcpwave/tcp"
)

// jsonEvent fixes the key order and names of the JSON Lines schema.
// encoding/json writes struct fields in declaration order.
type jsonEvent struct {
	TUS    int64  `json:"t_us"`
	Host   string `json:"host,omitempty"`
	Ev     Kind   `json:"ev,omitempty"`
	From   string `json:"from,omitempty"`
	To     string `json:"to,omitempty"`
	Why    string `json:"why,omitempty"`
	Seg    string `json:"seg,omitempty"`
	Call   string `json:"call,omitempty"`
	Result string `json:"result,omitempty"`
	Conn   string `json:"conn,omitempty"`
}

// WriteJSONL writes events as JSON Lines, one object per line, with keys in
// this order and string fields left out when empty:
//
//	{"t_us":1000,"host":"A","ev":"state","from":"ESTABLISHED","to":"FIN_WAIT_1","why":"close() called"}
//	{"t_us":1000,"host":"A","ev":"send","seg":"F. 1:1(0) ack 1 win 65535"}
//	{"t_us":1500,"host":"net","ev":"drop","from":"A","to":"B","seg":"F. 1:1(0) ack 1 win 65535"}
//	{"t_us":2000,"host":"B","ev":"app","call":"read","result":"EOF"}
//
// t_us is the event time in whole microseconds (truncated toward zero) and
// is always present. Characters such as '<' and '&' are written as
// themselves, not as \u escapes.
func WriteJSONL(w io.Writer, events []Event) error {
	bw := bufio.NewWriter(w)
	enc := json.NewEncoder(bw)
	enc.SetEscapeHTML(false)
	for i := range events {
		je := toJSON(&events[i])
		if err := enc.Encode(&je); err != nil { // Encode ends the line
			return err
		}
	}
	return bw.Flush()
}

// toJSON formats e's typed values as the schema's strings.
func toJSON(e *Event) jsonEvent {
	je := jsonEvent{
		TUS:    e.T.Micros(),
		Host:   e.Host,
		Ev:     e.Kind,
		Why:    e.Why,
		Seg:    e.SegText(),
		Call:   e.Call,
		Result: e.Result,
		Conn:   e.Conn.String(),
	}
	switch e.Kind {
	case KindState:
		je.To = e.To.String()
		if !e.FromUnknown {
			je.From = e.From.String()
		}
	case KindDrop:
		je.From, je.To = e.Src, e.Dst
	}
	return je
}

// ReadJSONL reads events written by WriteJSONL. Blank lines are skipped and
// unknown keys ignored; times come back as t_us microseconds, so anything
// finer was lost on writing. A line that is not a JSON object, or whose
// state, conn or seg does not parse, is an error naming its line number.
func ReadJSONL(r io.Reader) ([]Event, error) {
	br := bufio.NewReader(r)
	var out []Event
	for lineNo := 1; ; lineNo++ {
		line, err := br.ReadBytes('\n')
		if err != nil && !errors.Is(err, io.EOF) {
			return out, err
		}
		if trimmed := bytes.TrimSpace(line); len(trimmed) > 0 {
			if trimmed[0] != '{' {
				return out, fmt.Errorf("trace: JSONL line %d: not a JSON object", lineNo)
			}
			var je jsonEvent
			if uerr := json.Unmarshal(trimmed, &je); uerr != nil {
				return out, fmt.Errorf("trace: JSONL line %d: %w", lineNo, uerr)
			}
			e, cerr := fromJSON(&je)
			if cerr != nil {
				return out, fmt.Errorf("trace: JSONL line %d: %w", lineNo, cerr)
			}
			out = append(out, e)
		}
		if err != nil { // io.EOF
			return out, nil
		}
	}
}

// fromJSON reads the schema's strings back into typed values.
func fromJSON(je *jsonEvent) (Event, error) {
	e := Event{
		T:      clock.Instant(je.TUS * 1000),
		Host:   je.Host,
		Kind:   je.Ev,
		Why:    je.Why,
		Call:   je.Call,
		Result: je.Result,
	}
	var err error
	if e.Conn, err = parseConn(je.Conn); err != nil {
		return e, err
	}
	if err := readSeg(&e, je.Seg); err != nil {
		return e, err
	}
	switch e.Kind {
	case KindState:
		e.FromUnknown = je.From == ""
		if !e.FromUnknown {
			if e.From, err = parseState(je.From); err != nil {
				return e, err
			}
		}
		e.To, err = parseState(je.To)
	case KindDrop:
		e.Src, e.Dst = je.From, je.To
	}
	return e, err
}

// readSeg reads a "seg": a segment in packetdrill notation or "(N bytes)".
func readSeg(e *Event, s string) error {
	if s == "" {
		return nil
	}
	if n, ok := strings.CutPrefix(s, "("); ok {
		if n, ok = strings.CutSuffix(n, " bytes)"); ok {
			size, err := strconv.Atoi(n)
			if err != nil || size <= 0 {
				return fmt.Errorf("seg %q: bad size", s)
			}
			e.Size = size
			return nil
		}
	}
	seg, err := notation.Parse(s)
	if err != nil {
		return fmt.Errorf("seg %q: %w", s, err)
	}
	e.Seg = &seg
	return nil
}

// parseState reads a state's name as tcp.State.String writes it.
func parseState(s string) (tcp.State, error) {
	if st, ok := tcp.ParseState(s); ok {
		return st, nil
	}
	return 0, fmt.Errorf("unknown state %q", s)
}

// parseConn reads "local>remote" or a listener's "local".
func parseConn(s string) (Conn, error) {
	if s == "" {
		return Conn{}, nil
	}
	l, r, connected := strings.Cut(s, ">")
	var c Conn
	var err error
	if c.Local, err = netip.ParseAddrPort(l); err != nil {
		return c, fmt.Errorf("conn %q: %w", s, err)
	}
	if connected {
		if c.Remote, err = netip.ParseAddrPort(r); err != nil {
			return c, fmt.Errorf("conn %q: %w", s, err)
		}
	}
	return c, nil
}
