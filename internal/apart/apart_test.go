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
