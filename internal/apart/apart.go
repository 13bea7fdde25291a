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
