//go:build race

package chat

// The race detector adds allocations of its own.
const raceEnabled = true
