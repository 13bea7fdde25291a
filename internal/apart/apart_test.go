package apart

import (
	"errors"
	"runtime"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestDo: f runs on another goroutine, and Do returns when it has; its
// panic is raised again by Do with the same value, and its
// runtime.Goexit ends Do's caller too, with its deferred calls run.
func TestDo(t *testing.T) {
	ran := false
	Do(func() { ran = true })
	if !ran {
		t.Fatal("f did not run before Do returned")
	}

	errBoom := errors.New("boom")
	func() {
		defer func() {
			if v := recover(); v != errBoom {
				t.Errorf("recovered %v, want the panic's value", v)
			}
		}()
		Do(func() { panic(errBoom) })
		t.Error("Do returned after a panic")
	}()

	exited := make(chan bool)
	go func() {
		deferred := false
		defer func() { exited <- deferred }()
		defer func() { deferred = true }()
		Do(runtime.Goexit)
		t.Error("Do returned after runtime.Goexit")
	}()
	if !<-exited {
		t.Error("the caller's deferred calls did not run")
	}
}

// BenchmarkDo: a call of Do whose function needs about 10 KB of stack, as
// decoding a request or the user's hooks may.
func BenchmarkDo(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		Do(func() { deep(40) })
	}
}

// deep recurses n frames of about 256 bytes each.
//
//go:noinline
func deep(n int) byte {
	var pad [224]byte
	pad[n%len(pad)] = byte(n)
	if n == 0 {
		return pad[0]
	}
	return deep(n-1) + pad[(n*7)%len(pad)]
}
