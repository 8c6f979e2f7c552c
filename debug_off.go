//go:build !tcpwavedebug

package tcpwave

import "github.com/tcpwave/tcpwave/stack"

// debugState holds the debug checks' state: nothing without the
// tcpwavedebug build tag, and every check below compiles to nothing.
type debugState struct{}

func (s *Stack) assertLocked()                                  {}
func (s *Stack) assertNotInCallback()                           {}
func (s *Stack) enterCallbacks() bool                           { return false }
func (s *Stack) leaveCallbacks(bool)                            {}
func debugObserver(_ *Stack, obs stack.Observer) stack.Observer { return obs }
