package trace

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/tcpwave/tcpwave/clock"
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
	for _, e := range events {
		je := jsonEvent{
			TUS:    e.T.Micros(),
			Host:   e.Host,
			Ev:     e.Kind,
			From:   e.From,
			To:     e.To,
			Why:    e.Why,
			Seg:    e.Seg,
			Call:   e.Call,
			Result: e.Result,
			Conn:   e.Conn,
		}
		if err := enc.Encode(&je); err != nil { // Encode ends the line
			return err
		}
	}
	return bw.Flush()
}

// ReadJSONL reads events written by WriteJSONL. Blank lines are skipped and
// unknown keys ignored; times come back as t_us microseconds, so anything
// finer was lost on writing. A line that is not a JSON object is an error
// naming its line number.
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
			out = append(out, Event{
				T:      clock.Instant(je.TUS * 1000),
				Host:   je.Host,
				Kind:   je.Ev,
				From:   je.From,
				To:     je.To,
				Why:    je.Why,
				Seg:    je.Seg,
				Call:   je.Call,
				Result: je.Result,
				Conn:   je.Conn,
			})
		}
		if err != nil { // io.EOF
			return out, nil
		}
	}
}
