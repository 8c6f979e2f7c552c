//go:build race

package stack

// raceEnabled says the tests run with the race detector, which makes
// them several times slower: the biggest scale tests then run smaller.
const raceEnabled = true
