package chat

import (
	"context"
	"iter"
)

// Provider streams answers from a model. It is the only part of ssechat that
// knows a vendor.
//
// Stream starts one generation and yields its chunks in order. It must
// honour ctx: when ctx is cancelled (the client went away), or when the
// consumer stops iterating, it stops at once and releases its upstream
// connection. A failure is yielded as a non-nil error, after which the
// iteration ends. Returning an [*Error] chooses the code the client sees;
// any other error is reported as [CodeUpstreamError], with its text kept
// from the client. A Provider must be safe for concurrent use.
type Provider interface {
	Stream(ctx context.Context, req *Request) iter.Seq2[Chunk, error]
}

// ProviderFunc adapts a function to [Provider].
type ProviderFunc func(ctx context.Context, req *Request) iter.Seq2[Chunk, error]

// Stream calls f(ctx, req).
func (f ProviderFunc) Stream(ctx context.Context, req *Request) iter.Seq2[Chunk, error] {
	return f(ctx, req)
}
