package middleware

import "net/http"

// AbortOnDisconnect returns middleware that cancels a request's context as
// soon as a write or flush to the client fails, with [ErrClientGone] (and the
// write's error) as the context's cause. net/http cancels the context itself
// when it notices the connection is gone; this covers the writers and
// wrappers that do not tell: a wrapper whose Flush swallows the error
// (otelhttp's returns nothing), a framework's writer, a connection that fails
// on write before its read side notices. A handler that streams from a paid
// upstream then stops it at its next step instead of paying for tokens nobody
// reads. After the failure every further write returns the same error.
//
// Every middleware of this package does this too: use AbortOnDisconnect on
// its own when no other is needed. A writer that cannot flush is left alone.
func AbortOnDisconnect(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, w, r, done := install(w, r)
		defer done()
		next.ServeHTTP(w, r)
	})
}
