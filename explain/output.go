package explain

import (
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/tcpwave/tcpwave/tcp"
)

// jsonTransition is a Transition in the scenario schema's words.
type jsonTransition struct {
	TUS          int64  `json:"t_us"`
	From         string `json:"from"`
	To           string `json:"to"`
	Why          string `json:"why"`
	Inferred     bool   `json:"inferred"`
	AfterCapture bool   `json:"after_capture,omitempty"`
	Uncertain    string `json:"uncertain,omitempty"`
}

type jsonFinding struct {
	TUS  int64  `json:"t_us"`
	Kind string `json:"kind"`
	Text string `json:"text"`
}

type jsonCounters struct {
	Packets     int    `json:"packets"`
	Bytes       uint64 `json:"bytes"`
	SYNs        int    `json:"syns"`
	Retransmits int    `json:"retransmits"`
	DupACKs     int    `json:"dup_acks"`
	ZeroWindows int    `json:"zero_windows"`
	Keepalives  int    `json:"keepalives"`
	FINs        int    `json:"fins"`
	RSTs        int    `json:"rsts"`
}

type jsonSide struct {
	Addr   string           `json:"addr"`
	Final  string           `json:"final"` // "" for a side without a connection
	States []jsonTransition `json:"states"`
	Sent   jsonCounters     `json:"sent"`
}

type jsonConn struct {
	ID             int           `json:"id"`
	Incarnation    int           `json:"incarnation"`
	MidStream      bool          `json:"mid_stream,omitempty"`
	StartUS        int64         `json:"start_us"`
	EndUS          int64         `json:"end_us"`
	Close          string        `json:"close"`
	FirstFIN       string        `json:"first_fin,omitempty"`
	HalfCloseUS    int64         `json:"half_close_us,omitempty"`
	HalfCloseBytes uint64        `json:"half_close_bytes,omitempty"`
	Client         jsonSide      `json:"client"`
	Server         jsonSide      `json:"server"`
	Findings       []jsonFinding `json:"findings"`
}

// MarshalJSON writes c as one JSON object: its sides ("client" and
// "server", each with its address, final state, inferred transitions
// {"t_us","from","to","why","inferred":true} and counters), its close
// kind and its findings ({"t_us","kind","text"}). Times are microseconds
// since the capture's first packet, as the scenarios' JSON Lines count
// virtual time.
func (c *Conn) MarshalJSON() ([]byte, error) {
	j := jsonConn{ID: c.ID, Incarnation: c.Incarnation, MidStream: c.MidStream,
		StartUS: c.Start.Microseconds(), EndUS: c.End.Microseconds(), Close: c.Close,
		HalfCloseUS: c.HalfClose.Microseconds(), HalfCloseBytes: c.HalfBytes, Findings: []jsonFinding{}}
	if c.Closer {
		j.FirstFIN = c.FirstFIN.String()
	}
	for s := Client; s <= Server; s++ {
		side := jsonSide{Addr: c.Addr[s].String(), States: []jsonTransition{}}
		if c.Known[s] {
			side.Final = c.Final[s].String()
		}
		for _, tr := range c.States[s] {
			side.States = append(side.States, jsonTransition{TUS: tr.T.Microseconds(), From: tr.From.String(), To: tr.To.String(),
				Why: tr.Why, Inferred: true, AfterCapture: tr.AfterCapture, Uncertain: tr.Uncertain})
		}
		n := c.Sent[s]
		side.Sent = jsonCounters{n.Packets, n.Bytes, n.SYNs, n.Retransmits, n.DupACKs, n.ZeroWindows, n.Keepalives, n.FINs, n.RSTs}
		if s == Client {
			j.Client = side
		} else {
			j.Server = side
		}
	}
	for _, f := range c.Findings {
		j.Findings = append(j.Findings, jsonFinding{f.T.Microseconds(), f.Kind, f.Text})
	}
	return json.Marshal(j)
}

// WriteJSONL writes c as one line of JSON Lines.
func WriteJSONL(w io.Writer, c *Conn) error {
	b, err := c.MarshalJSON()
	if err != nil {
		return fmt.Errorf("encoding connection %d: %w", c.ID, err)
	}
	b = append(b, '\n')
	_, err = w.Write(b)
	return err
}

// stateFilter turns a state into its filter name: TIME_WAIT is
// "time-wait".
func stateFilter(s tcp.State) string {
	return strings.ReplaceAll(strings.ToLower(s.String()), "_", "-")
}

// Filters lists every name Match accepts: the close kinds, the finding
// kinds, and the states from SYN_SENT on (lower case, dashed:
// "time-wait", "syn-sent").
func Filters() []string {
	out := slices.Clone(CloseKinds)
	for _, k := range Kinds {
		if !slices.Contains(out, k) {
			out = append(out, k)
		}
	}
	for s := tcp.SynSent; s <= tcp.TimeWait; s++ { // not CLOSED (every connection ends there) nor LISTEN
		if n := stateFilter(s); !slices.Contains(out, n) {
			out = append(out, n)
		}
	}
	return out
}

// Match reports whether c passes filter: c's close kind is filter, or one
// of its findings is of that kind, or a side entered the state filter
// names ("close-wait" also matches only when the capture ends in it: a
// connection that passed through CLOSE_WAIT on its way to LAST_ACK does
// not).
func Match(c *Conn, filter string) bool {
	if c.Close == filter {
		return true
	}
	for _, f := range c.Findings {
		if f.Kind == filter {
			return true
		}
	}
	if filter == "close-wait" || filter == "fin-wait-2" || filter == "fin-wait-1" {
		return false // only as findings: the capture ends there
	}
	for s := Client; s <= Server; s++ {
		for _, tr := range c.States[s] {
			if stateFilter(tr.To) == filter {
				return true
			}
		}
	}
	return false
}

// TableHeader is the header line of WriteRow's table.
const TableHeader = "  ID  CLIENT                     SERVER                     START         DURATION  BYTES C>S  BYTES S>C  CLOSE           CLIENT        SERVER        FINDINGS"

// WriteRow writes c as one row of the connection table, and with verbose
// each finding on a line of its own below it.
func WriteRow(w io.Writer, c *Conn, verbose bool) error {
	final := func(s Side) string {
		if !c.Known[s] {
			return "-"
		}
		return c.Final[s].String()
	}
	var kinds []string
	for _, f := range c.Findings {
		if !slices.Contains(kinds, f.Kind) {
			kinds = append(kinds, f.Kind)
		}
	}
	fk := strings.Join(kinds, ",")
	if fk == "" {
		fk = "-"
	}
	_, err := fmt.Fprintf(w, "%4d  %-25s  %-25s  %11.6f  %10s  %9d  %9d  %-14s  %-12s  %-12s  %s\n",
		c.ID, c.Addr[Client], c.Addr[Server], c.Start.Seconds(), fmtDur(c.End-c.Start),
		c.Sent[Client].Bytes, c.Sent[Server].Bytes, c.Close, final(Client), final(Server), fk)
	if err != nil || !verbose {
		return err
	}
	for _, f := range c.Findings {
		if _, err := fmt.Fprintf(w, "        %11.6f  %s\n", f.T.Seconds(), f.Text); err != nil {
			return err
		}
	}
	return nil
}

// fmtDur writes a connection's duration compactly.
func fmtDur(d time.Duration) string {
	return round(d).String()
}
