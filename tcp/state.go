package tcp

// State is one of the eleven states of RFC 9293 §3.3.2.
type State uint8

// The connection states. CLOSED is the zero value.
const (
	Closed State = iota
	Listen
	SynSent
	SynRcvd
	Established
	FinWait1
	FinWait2
	CloseWait
	Closing
	LastAck
	TimeWait
)

var stateNames = [...]string{
	Closed:      "CLOSED",
	Listen:      "LISTEN",
	SynSent:     "SYN_SENT",
	SynRcvd:     "SYN_RCVD",
	Established: "ESTABLISHED",
	FinWait1:    "FIN_WAIT_1",
	FinWait2:    "FIN_WAIT_2",
	CloseWait:   "CLOSE_WAIT",
	Closing:     "CLOSING",
	LastAck:     "LAST_ACK",
	TimeWait:    "TIME_WAIT",
}

var ssNames = [...]string{
	Closed:      "UNCONN",
	Listen:      "LISTEN",
	SynSent:     "SYN-SENT",
	SynRcvd:     "SYN-RECV",
	Established: "ESTAB",
	FinWait1:    "FIN-WAIT-1",
	FinWait2:    "FIN-WAIT-2",
	CloseWait:   "CLOSE-WAIT",
	Closing:     "CLOSING",
	LastAck:     "LAST-ACK",
	TimeWait:    "TIME-WAIT",
}

// String returns the state's name as the JSON schema spells it
// ("ESTABLISHED", "FIN_WAIT_1", ...).
func (s State) String() string {
	if int(s) < len(stateNames) {
		return stateNames[s]
	}
	return "INVALID"
}

// ParseState returns the state String names ("TIME_WAIT"), and whether
// the name is one.
func ParseState(name string) (State, bool) {
	for i, n := range stateNames {
		if n == name {
			return State(i), true
		}
	}
	return 0, false
}

// SSName returns the state as `ss -tan` prints it ("ESTAB", "FIN-WAIT-1").
func (s State) SSName() string {
	if int(s) < len(ssNames) {
		return ssNames[s]
	}
	return "INVALID"
}

// Synchronized reports whether s is one of RFC 9293's synchronized states
// (ESTABLISHED and every state after it).
func (s State) Synchronized() bool { return s >= Established }
