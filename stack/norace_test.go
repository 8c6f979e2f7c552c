//go:build !race

package stack

// raceEnabled says the tests run with the race detector.
const raceEnabled = false
