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
//
// It also runs before a resume and a stop, with req.Op set to [OpResume] or
// [OpStop] and req.StreamID to the stream: there it should authenticate and
// set req.Owner, nothing else (Messages may be empty and are not used). A
// stream can be resumed or stopped only with the Owner it was started with.
type PrepareFunc func(r *http.Request, req *Request) error

// WithPrepare sets the prepare hook. Default none.
func WithPrepare(f PrepareFunc) Option { return optionFunc(func(h *Handler) { h.prepare = f }) }

// FinishFunc runs once for every request that reached the provider, after
// the stream has ended and before ServeHTTP returns. ctx carries the request's
// values but is not cancelled when the client leaves.
type FinishFunc func(ctx context.Context, res *Result)

// WithFinish sets the finish hook. Default none.
func WithFinish(f FinishFunc) Option { return optionFunc(func(h *Handler) { h.finish = f }) }

// WithStore sets where stream logs are kept: a store shared by several
// instances (package chat/redisstore) lets any of them resume or stop a
// stream another started. Default: a [MemoryStore] of the handler's own.
// It panics if s is nil.
func WithStore(s Store) Option {
	if s == nil {
		panic("chat: WithStore: nil Store")
	}
	return optionFunc(func(h *Handler) { h.store = s })
}

// WithDetach sets the disconnect policy. With grace 0 (the default) a
// client that goes away cancels the generation at once. With grace > 0 the
// generation goes on into the stream log when its client leaves, so that
// the client can come back and resume; if no client follows the stream for
// grace, the generation is cancelled ([EndClientGone]). Presence is a lease
// in the store, renewed every grace/4 by each following connection, so it
// works across instances. It panics if grace < 0.
//
// What it costs: with grace 0 (and no [WithMaxResponse] rotation) the
// generation cannot outlive its request, so it runs on the request's
// goroutine and each piece is written as it is logged, as a hand-written
// handler does. With grace > 0 the generation runs in a goroutine of its
// own (one goroutine and a few kilobytes more per stream), which writes
// each piece to the connection that started it while that client is
// there; the request's goroutine waits and renews the lease. Either way a
// client that stops reading holds up the upstream read for one write at
// most ([WithWriteTimeout]): then it counts as gone, and with grace > 0
// the generation goes on into the log. With a rotation the generation
// hands what it logs to the connection instead, which never holds it up.
func WithDetach(grace time.Duration) Option {
	if grace < 0 {
		panic(fmt.Sprintf("chat: WithDetach(%v): negative grace", grace))
	}
	return optionFunc(func(h *Handler) { h.grace = grace })
}

// RotationGrace is how long a generation waits for its client to come back
// after [WithMaxResponse] ended a response, when [WithDetach] gives no
// longer grace.
const RotationGrace = 30 * time.Second

// WithMaxResponse makes every response end after at most d, between events,
// with a "reconnect" event ([ReconnectData]) that carries the last event id;
// the client resumes with it at once and nothing is lost. Use it for
// clients with a hard request limit: 50 s suits WeChat's 60 s. Streams in
// [ModeOpenAI] are never rotated: OpenAI's client libraries cannot follow a
// reconnect event (they would end early, without an error). The
// generation is not cancelled by a rotation: it waits up to the detach
// grace, or [RotationGrace], for the client's resume. Default 0: no
// rotation. It panics if d < 0.
func WithMaxResponse(d time.Duration) Option {
	if d < 0 {
		panic(fmt.Sprintf("chat: WithMaxResponse(%v): negative duration", d))
	}
	return optionFunc(func(h *Handler) { h.maxResponse = d })
}

// DefaultMaxReaders is the number of connections that may follow one
// stream at once on one instance, unless [WithMaxReaders] says otherwise.
const DefaultMaxReaders = 8

// WithMaxReaders bounds the connections following one stream at once on
// this instance (the one that started it included): a resume beyond it
// gets 429 with code too_many_readers (retryable). Each reader holds a
// bounded batch of the log and, in snapshot mode, the text so far. Default
// [DefaultMaxReaders]. It panics if n < 1.
func WithMaxReaders(n int) Option {
	if n < 1 {
		panic(fmt.Sprintf("chat: WithMaxReaders(%d): limit must be positive", n))
	}
	return optionFunc(func(h *Handler) { h.maxReaders = n })
}

// WithRequestTools lets requests declare tools of their own (tools,
// tool_choice, parallel_tool_calls), passed to the provider: the model may
// then call them, and the answer ends with finish reason "tool_calls" for
// the client to run them and send the results in its next request. Default
// false: such a request is refused with 422, since the tools change what
// the model does on the server's account.
func WithRequestTools(on bool) Option {
	return optionFunc(func(h *Handler) { h.requestTools = on })
}

// AILabelHeader is the response header that [WithAILabel] sets.
const AILabelHeader = "X-AI-Generated"

// WithAILabel marks every answer as generated by AI, for the visible label
// that platform rules and laws ask for (WeChat's AI category, China's
// labelling measures and GB 45438): "ai_generated": true in the start
// event (delta and snapshot modes), messageMetadata {"aiGenerated": true}
// in ui mode's start chunk, and the response header X-AI-Generated: true in
// every mode. Clients show the label with the answer. Default false.
func WithAILabel(on bool) Option { return optionFunc(func(h *Handler) { h.aiLabel = on }) }
