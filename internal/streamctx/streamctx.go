// Package streamctx is the contract between chat.Handler and the stream
// middleware of package middleware, carried in a request's context. It lets
// the handler, which defers its headers until the first chunk so that early
// failures can still get an HTTP status, allow a keep-alive to start the
// stream sooner; and it lets telemetry see each stream's outcome.
package streamctx

import (
	"context"
	"time"
)

// Starter is implemented by the middleware's response writer wrapper.
type Starter interface {
	// Pend declares that the response will be an event stream. Until Claim,
	// the wrapper may commit it on the handler's behalf (status 200 and the
	// event-stream headers, which it sets itself) to send a keep-alive. The
	// handler must not touch the response between Pend and Claim.
	Pend()
	// Claim ends what Pend allowed and reports whether the wrapper already
	// committed the response, in which case the handler must answer with
	// events, not with a status. After Claim the handler owns the response
	// again. Claim without Pend returns false.
	Claim() (committed bool)
	// Ended says the handler has sent its terminal event or status: the
	// middleware must not add one of its own (after a timeout or panic).
	Ended()
}

// WriteFlusher is implemented by the middleware's response writer
// wrapper, for package sse: WriteFlush writes b and flushes it, as Write
// and then a flush through http.ResponseController would, under one lock.
// It returns the write's error, else the flush's.
type WriteFlusher interface {
	WriteFlush(b []byte) error
}

// Observer receives the outcome of a chat stream.
type Observer interface {
	Finished(r *Report)
}

// Message is one request message, for telemetry that records content.
type Message struct {
	Role, Content string
}

// Report describes a finished chat stream.
type Report struct {
	StreamID      string
	Model         string // requested
	ResponseModel string // reported by the upstream, or empty
	ResponseID    string // reported by the upstream, or empty
	FinishReason  string
	HasUsage      bool
	InputTokens   int
	OutputTokens  int
	// ReasoningTokens is the part of OutputTokens spent reasoning (0:
	// not reported).
	ReasoningTokens int
	End             string // the chat.EndReason
	ErrorCode       string // the chat.Code of a failure, empty if none
	Retryable       bool
	FirstChunk      time.Duration // 0 if none
	Duration        time.Duration
	Characters      int // Unicode code points of text sent
	Messages        []Message
	Text            string
}

type starterKey struct{}
type observerKey struct{}

// WithStarter returns ctx carrying s.
func WithStarter(ctx context.Context, s Starter) context.Context {
	return context.WithValue(ctx, starterKey{}, s)
}

// StarterFrom returns the Starter in ctx, or nil.
func StarterFrom(ctx context.Context) Starter {
	s, _ := ctx.Value(starterKey{}).(Starter)
	return s
}

// WithObserver returns ctx carrying o.
func WithObserver(ctx context.Context, o Observer) context.Context {
	return context.WithValue(ctx, observerKey{}, o)
}

// ObserverFrom returns the Observer in ctx, or nil.
func ObserverFrom(ctx context.Context) Observer {
	o, _ := ctx.Value(observerKey{}).(Observer)
	return o
}
