package trace_test

import "github.com/tcpwave/tcpwave/internal/tracetest"

// Short names for the test values (internal/tracetest).
var (
	sg    = tracetest.Seg
	cn    = tracetest.Conn
	state = tracetest.State
)
