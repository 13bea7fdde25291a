// Package apart runs a function on a goroutine of its own, for the
// packages of this module that serve long streams.
package apart

import "runtime"

// Do runs f on a goroutine of its own and waits for it. A panic in f is
// raised again on the caller's goroutine with the same value, and a
// runtime.Goexit in f exits the caller's goroutine too, so that f behaves
// as if called directly.
//
// It is for code that may need a deep stack (decoding a request, the
// user's hooks, recording metrics) on a goroutine that serves a stream.
// A goroutine's stack doubles when a call needs more, and the GC halves
// it only while the goroutine uses under a quarter of it: a streaming
// goroutine that waits about 5 KB deep (in the provider) keeps a 16 KB
// stack for as long as the stream lasts after one deep call, where the
// first 8 KB would do (BenchmarkHeldStreams). f's goroutine gives its
// stack back when f returns.
func Do(f func()) {
	done := make(chan any, 1) // nil: returned
	go func() {
		Grow()
		returned := false
		defer func() {
			if !returned {
				v := recover()
				if v == nil {
					v = goexit{}
				}
				done <- v
			}
		}()
		f()
		returned = true
		done <- nil
	}()
	switch v := <-done; v.(type) {
	case nil:
	case goexit:
		runtime.Goexit()
	default:
		panic(v)
	}
}

// goexit marks a runtime.Goexit in Do's function.
type goexit struct{}

// growTo is the stack that Grow gives a goroutine at once.
const growTo = 12 << 10

// Grow makes the calling goroutine's stack at least 12 KB deep, at once.
// A short-lived goroutine that will go deep (decoding a request, the
// user's hooks, a write through net/http) calls it first: grown there,
// while the goroutine is shallow, the copy is of a frame or two, where
// grown by the deep calls themselves the stack doubles from 2 KB three
// times, each time copying and adjusting every frame on it
// (BenchmarkDo: 4.1-5.3 us without, 1.3-1.6 us with). Not for a goroutine
// that lives as long as its stream: that keeps what it grew to.
//
//go:noinline
func Grow() {
	var b [growTo]byte
	touch(b[:])
}

//go:noinline
func touch(b []byte) { b[len(b)-1] = 1 }
