package chat

import (
	"context"
	"errors"
	"net/http"
)

// Code classifies an [Error]. The set is closed: clients branch on these
// strings, which appear as "code" in JSON error bodies and error events.
type Code string

// The codes, with the HTTP status each maps to before the stream starts.
const (
	CodeBadRequest           Code = "bad_request"            // 400: malformed JSON or query
	CodeUnauthenticated      Code = "unauthenticated"        // 401
	CodePermissionDenied     Code = "permission_denied"      // 403
	CodeStreamExpired        Code = "stream_expired"         // 404: no such stream to resume or stop (unknown, or its log expired)
	CodeMethodNotAllowed     Code = "method_not_allowed"     // 405
	CodeRequestTimeout       Code = "request_timeout"        // 408: the request body did not arrive in time
	CodeRequestTooLarge      Code = "request_too_large"      // 413
	CodeUnsupportedMediaType Code = "unsupported_media_type" // 415
	CodeInvalidRequest       Code = "invalid_request"        // 422: well-formed but invalid
	CodeRateLimited          Code = "rate_limited"           // 429, retryable
	CodeTooManyReaders       Code = "too_many_readers"       // 429, retryable: the stream has as many readers as the server allows (WithMaxReaders)
	CodeCanceled             Code = "canceled"               // 499: the client went away, or the stream was stopped
	CodeClientGone           Code = "client_gone"            // 499: the generation was cancelled because its client disconnected (what a resume then gets)
	CodeInternal             Code = "internal"               // 500
	CodeAnswerTooLarge       Code = "answer_too_large"       // 500: the answer outgrew what the server keeps of one stream; a retry would too
	CodeUpstreamError        Code = "upstream_error"         // 502: the provider failed or refused us
	CodeTruncated            Code = "truncated"              // 502, retryable: the answer was cut off
	CodeUpstreamUnavailable  Code = "upstream_unavailable"   // 503, retryable
	CodeUnavailable          Code = "unavailable"            // 503, retryable: the server cannot take the stream now (its stream store is full or unreachable)
	CodeTimeout              Code = "timeout"                // 504, retryable
	// CodeContentFiltered ends an answer that moderation blocked (see
	// WithModeration): the text it withheld is never sent.
	CodeContentFiltered Code = "content_filtered" // 451
)

type codeInfo struct {
	status    int
	retryable bool
	message   string
}

var codes = map[Code]codeInfo{
	CodeBadRequest:           {http.StatusBadRequest, false, "the request is malformed"},
	CodeUnauthenticated:      {http.StatusUnauthorized, false, "authentication required"},
	CodePermissionDenied:     {http.StatusForbidden, false, "permission denied"},
	CodeStreamExpired:        {http.StatusNotFound, false, "the stream is unknown or has expired, start a new one"},
	CodeMethodNotAllowed:     {http.StatusMethodNotAllowed, false, "method not allowed"},
	CodeRequestTimeout:       {http.StatusRequestTimeout, false, "the request body did not arrive in time"},
	CodeRequestTooLarge:      {http.StatusRequestEntityTooLarge, false, "the request body is too large"},
	CodeUnsupportedMediaType: {http.StatusUnsupportedMediaType, false, "the request body must be application/json"},
	CodeInvalidRequest:       {http.StatusUnprocessableEntity, false, "the request is invalid"},
	CodeRateLimited:          {http.StatusTooManyRequests, true, "too many requests, try again later"},
	CodeTooManyReaders:       {http.StatusTooManyRequests, true, "this stream has too many readers, try again later"},
	CodeCanceled:             {499, false, "the request was canceled"},
	CodeClientGone:           {499, false, "the answer was canceled because its client disconnected, start a new one"},
	CodeInternal:             {http.StatusInternalServerError, false, "internal error"},
	CodeAnswerTooLarge:       {http.StatusInternalServerError, false, "the answer is longer than this server keeps"},
	CodeUpstreamError:        {http.StatusBadGateway, false, "the model provider failed"},
	CodeTruncated:            {http.StatusBadGateway, true, "the model's answer was cut off"},
	CodeUpstreamUnavailable:  {http.StatusServiceUnavailable, true, "the model provider is unavailable, try again later"},
	CodeUnavailable:          {http.StatusServiceUnavailable, true, "the server is busy, try again later"},
	CodeTimeout:              {http.StatusGatewayTimeout, true, "the model took too long"},
	CodeContentFiltered:      {http.StatusUnavailableForLegalReasons, false, filteredMessage},
}

func (c Code) info() codeInfo {
	if i, ok := codes[c]; ok {
		return i
	}
	return codes[CodeInternal]
}

// Error is a failure that a client may see: its Code and Message are sent,
// its cause Err never is. Providers return it to classify upstream failures;
// prepare hooks return it to reject a request.
type Error struct {
	Code Code
	// Message is shown to the client. Empty means a generic message for the
	// code. It must not contain secrets or upstream error text.
	Message string
	// Err is the cause, for the server's own use through errors.Is/As. It is
	// never sent and not part of Error().
	Err error
}

// NewError returns an Error with the code and client-facing message.
func NewError(code Code, message string) *Error { return &Error{Code: code, Message: message} }

// Error returns "chat: <code>: <message>", without the cause, so that
// logging it cannot leak upstream error bodies or keys.
func (e *Error) Error() string { return "chat: " + string(e.Code) + ": " + e.ClientMessage() }

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

// Status is the HTTP status for the code (500 for an unknown code).
func (e *Error) Status() int { return e.Code.info().status }

// Retryable reports whether the same request may succeed later.
func (e *Error) Retryable() bool { return e.Code.info().retryable }

// ClientMessage is the message sent to clients.
func (e *Error) ClientMessage() string {
	if e.Message != "" {
		return e.Message
	}
	return e.Code.info().message
}

// asError classifies any error from a provider or hook. A context error, or
// any error once ctx is done, maps through [contextError]; an *Error keeps its
// code; anything else is an upstream failure, with the cause kept unsent.
func asError(ctx context.Context, err error) *Error {
	if ce := contextError(ctx, err); ce != nil {
		return ce
	}
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	return &Error{Code: CodeUpstreamError, Err: err}
}

// contextError is the one place that maps context errors to codes: a
// deadline is a timeout, a cancellation means the client went away. Once ctx
// is done its cause decides (see context.Cause), so middleware that cancels
// a stream with a cause wrapping context.DeadlineExceeded reports a timeout.
func contextError(ctx context.Context, err error) *Error {
	var cerr error
	switch {
	case ctx.Err() != nil:
		cerr = context.Cause(ctx)
	case errors.Is(err, context.DeadlineExceeded):
		cerr = context.DeadlineExceeded
	case errors.Is(err, context.Canceled):
		cerr = context.Canceled
	}
	switch {
	case cerr == nil:
		return nil
	case errors.Is(cerr, context.DeadlineExceeded):
		return &Error{Code: CodeTimeout, Err: err}
	default:
		return &Error{Code: CodeCanceled, Err: err}
	}
}
