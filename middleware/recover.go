package middleware

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"runtime/debug"

	"github.com/ssechat/ssechat/chat"
)

// Recover returns middleware that turns a panic in a handler into an answer
// the client understands and one log record with the stack, instead of a
// crashed process or a stream that silently stops:
//
//   - before anything was sent: status 500 with {"error":{"code":"internal",...}};
//   - in an event stream, between events: an "error" event with code
//     "internal" (chat.ErrorData), after which the stream ends;
//   - anywhere else (inside an event, or a response that is not an event
//     stream): the connection is aborted, so the client sees a broken
//     response rather than a corrupt one.
//
// http.ErrAbortHandler is re-panicked untouched, as net/http expects. The
// record goes to logger at level Error with the request's method and path,
// the panic value and the stack; nil means slog.Default().
func Recover(logger *slog.Logger) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			s, w, r, done := install(w, r)
			defer done()
			defer func() {
				p := recover()
				if p == nil {
					return
				}
				if err, ok := p.(error); ok && errors.Is(err, http.ErrAbortHandler) {
					panic(p)
				}
				l := logger
				if l == nil {
					l = slog.Default()
				}
				l.LogAttrs(context.WithoutCancel(r.Context()), slog.LevelError, "panic serving request",
					slog.String("method", r.Method), slog.String("path", r.URL.Path),
					slog.String("panic", fmt.Sprint(p)), slog.String("stack", string(debug.Stack())))
				if s == nil || !s.endWithError(&chat.Error{Code: chat.CodeInternal}) {
					panic(http.ErrAbortHandler)
				}
			}()
			next.ServeHTTP(w, r)
		})
	}
}
