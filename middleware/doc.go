// Package middleware has the net/http middleware for event streams that
// chat.Handler, and any other SSE handler, runs behind: [KeepAlive] writes
// comments while a stream is idle (also before a silent model's first
// token), [StreamTimeout] bounds a stream's length and its upstream's
// silence without writing a 504 into a started stream, [AbortOnDisconnect]
// cancels the request's context the moment a write to the client fails,
// [Recover] turns a panic into a clean end, and [Telemetry] records
// OpenTelemetry spans and metrics with the GenAI conventions.
//
// Each is a func(http.Handler) http.Handler and works under chi, gin, echo
// and otelhttp. All of them share one wrapper of the ResponseWriter per
// request, which serialises writes (a keep-alive never lands inside an
// event), writes only at event boundaries, and runs every write of its own
// under a fresh write deadline. Idle streams cost an entry in a set, not a
// goroutine: one goroutine per middleware serves all of them.
package middleware
