package chat

import (
	"context"
	"fmt"
	"net/http"
	"time"
)

// DefaultMaxBodyBytes is the request body limit unless [WithMaxBodyBytes]
// says otherwise.
const DefaultMaxBodyBytes = 1 << 20

// Option configures a [Handler].
type Option interface{ apply(*Handler) }

type optionFunc func(*Handler)

func (f optionFunc) apply(h *Handler) { f(h) }

// WithMaxBodyBytes limits the request body; a larger one gets 413.
// Default [DefaultMaxBodyBytes] (1 MiB). It panics if n < 1.
func WithMaxBodyBytes(n int64) Option {
	if n < 1 {
		panic(fmt.Sprintf("chat: WithMaxBodyBytes(%d): limit must be positive", n))
	}
	return optionFunc(func(h *Handler) { h.maxBody = n })
}

// WithMode sets the wire mode of a request that does not choose one with
// ?mode=. Default [ModeDelta]. It panics on an unknown mode.
func WithMode(m Mode) Option {
	if !m.valid() {
		panic(fmt.Sprintf("chat: WithMode(%q): unknown mode", m))
	}
	return optionFunc(func(h *Handler) { h.mode = m })
}

// WithRequestModes sets the modes a request may choose with ?mode=; a request
// asking for another gets 400. Default: all of [ModeDelta], [ModeSnapshot] and
// [ModeOpenAI]. With no arguments requests cannot choose (naming the default
// mode is always allowed). It panics on an unknown mode.
func WithRequestModes(modes ...Mode) Option {
	for _, m := range modes {
		if !m.valid() {
			panic(fmt.Sprintf("chat: WithRequestModes(%q): unknown mode", m))
		}
	}
	allowed := append([]Mode(nil), modes...)
	return optionFunc(func(h *Handler) { h.requestModes = allowed })
}

// WithASCII makes every stream ASCII-safe: all non-ASCII text in event data
// is sent as \uXXXX escapes (see sse.AppendASCIIJSON). Default false; a
// request can still ask for it with ?ascii=1.
func WithASCII(on bool) Option { return optionFunc(func(h *Handler) { h.ascii = on }) }

// WithWriteTimeout bounds each write to the client; see sse.Options.
// Default sse.DefaultWriteTimeout (30 s).
func WithWriteTimeout(d time.Duration) Option {
	return optionFunc(func(h *Handler) { h.writeTimeout = d })
}

// PrepareFunc runs after the request is decoded and validated and before the
// provider is called. It may change req (add a system prompt, load history,
// choose the model) and may reject the request by returning an error: an
// [*Error] answers with its code's status and message (for example
// NewError(CodeUnauthenticated, "sign in first")); any other error answers 500
// with a generic message. The changed request is validated again.
type PrepareFunc func(r *http.Request, req *Request) error

// WithPrepare sets the prepare hook. Default none.
func WithPrepare(f PrepareFunc) Option { return optionFunc(func(h *Handler) { h.prepare = f }) }

// FinishFunc runs once for every request that reached the provider, after
// the stream has ended and before ServeHTTP returns. ctx carries the request's
// values but is not cancelled when the client leaves.
type FinishFunc func(ctx context.Context, res *Result)

// WithFinish sets the finish hook. Default none.
func WithFinish(f FinishFunc) Option { return optionFunc(func(h *Handler) { h.finish = f }) }
