package chat

import (
	"context"
	"encoding/json"
	"errors"
	"time"
)

// Errors a [Store] returns.
var (
	// ErrStreamNotFound: the stream is unknown, or its log has expired.
	ErrStreamNotFound = errors.New("chat: stream not found or expired")
	// ErrStoreFull: the store is at its size limit and cannot take a new
	// stream or more of a stream's log.
	ErrStoreFull = errors.New("chat: stream store is full")
	// ErrStreamTooLarge: the stream's log reached the per-stream limit.
	ErrStreamTooLarge = errors.New("chat: stream log is too large")
)

// RecordKind says what a [Record] is.
type RecordKind string

// The record kinds. A log is one start, any number of parts (texts,
// reasoning, tool calls and results, data), and one terminal record: done
// or error. An error may also come first and alone, when the provider
// failed before its first chunk.
const (
	RecordStart      RecordKind = "start"
	RecordText       RecordKind = "text"        // Text: the next piece of the answer
	RecordReasoning  RecordKind = "reasoning"   // Text: the next piece of the reasoning
	RecordToolStart  RecordKind = "tool_start"  // ID, Name: a tool call begins
	RecordToolDelta  RecordKind = "tool_delta"  // ID, Text: the next piece of its arguments
	RecordToolCall   RecordKind = "tool_call"   // ID, Name, Text: the call, complete with its arguments
	RecordToolResult RecordKind = "tool_result" // ID, Name, and Value (the output) or Message (the error)
	RecordData       RecordKind = "data"        // Name, ID, Value, Transient (then no Value: see Data)
	RecordRetract    RecordKind = "retract"     // Text: what to show instead of the answer's text so far (moderation)
	RecordDone       RecordKind = "done"
	RecordError      RecordKind = "error"
)

// Record is one entry of a stream's log: what happened, independent of the
// wire mode. Each connection encodes the log in the stream's mode, so event
// ids ("<stream id>.<n>") follow from record sequence numbers: record n is
// event n (a record that a mode does not show, such as a tool result in
// openai mode, leaves its number unused), and a terminal record that takes
// several events in its mode (OpenAI's finish, usage and [DONE]) numbers
// them n, n+1, ....
type Record struct {
	Seq          int64           `json:"-"`
	Kind         RecordKind      `json:"k"`
	Text         string          `json:"t,omitempty"`
	ID           string          `json:"i,omitempty"`
	Name         string          `json:"n,omitempty"`
	Value        json.RawMessage `json:"v,omitempty"`
	Transient    bool            `json:"x,omitempty"`
	Server       bool            `json:"s,omitempty"` // a tool record of a call the server runs (ToolCall.Server)
	FinishReason string          `json:"f,omitempty"`
	Usage        *Usage          `json:"u,omitempty"`
	Code         Code            `json:"c,omitempty"`
	Message      string          `json:"m,omitempty"` // the client message of an error, or a tool's error
}

func (r *Record) terminal() bool { return r.Kind == RecordDone || r.Kind == RecordError }

// StreamInfo is what a store keeps about a stream besides its log: enough to
// encode the log again for a resuming client, and to check who asks.
type StreamInfo struct {
	ID string
	// Owner is [Request].Owner as the prepare hook set it.
	Owner        string
	Mode         Mode
	Model        string
	Created      int64 // Unix seconds, the "created" of OpenAI chunks
	IncludeUsage bool
	// AILabel marks the answer as AI-generated (WithAILabel).
	AILabel bool
}

// Store keeps the logs of streams so that a client can resume one, on any
// instance that shares the store, and so that a stop reaches the instance
// that runs the generation. [NewMemoryStore] keeps them in process;
// package chat/redisstore keeps them in Redis.
//
// One producer appends to a stream, in order, with sequence numbers from 0;
// any number of readers read it. Implementations must be safe for
// concurrent use. Errors other than the ones above mean the store is
// unreachable; the handler reports them as [CodeUnavailable].
type Store interface {
	// Create starts the log of a new stream.
	Create(ctx context.Context, info *StreamInfo) error
	// Append adds records to the stream's log. A terminal record ends the
	// stream: its log is kept for the store's TTL, then forgotten. A store
	// must accept a terminal record even past its per-stream limit.
	Append(ctx context.Context, id string, recs ...Record) error
	// Info returns what Create stored, or ErrStreamNotFound.
	Info(ctx context.Context, id string) (*StreamInfo, error)
	// Read returns records with Seq > after, in order: all of them, or,
	// for a reader far behind, a bounded batch of the first ones (at least
	// one). If there are none, it waits up to wait for some (a store may return sooner, with
	// none); it returns ctx's error when ctx ends first. It returns
	// ErrStreamNotFound if the stream is unknown or expired.
	Read(ctx context.Context, id string, after int64, wait time.Duration) ([]Record, error)
	// Touch says a reader is attached to the stream, for the next lease.
	Touch(ctx context.Context, id string, lease time.Duration) error
	// Attached reports whether a lease from Touch is still running.
	Attached(ctx context.Context, id string) (bool, error)
	// Alive reports whether the stream's producer still runs, on whichever
	// instance, or the stream has ended. False means the instance that ran
	// it stopped without ending its log (it crashed, or was killed without
	// a drain): the log will never end, and readers should give up. A
	// store whose producers live in the reader's own process may always
	// answer true.
	Alive(ctx context.Context, id string) (bool, error)
	// Stop asks the stream's producer, wherever it runs, to stop. Stopping a
	// finished stream does nothing.
	Stop(ctx context.Context, id string) error
	// WatchStop arranges for f to be called once, from any goroutine, when
	// Stop is called for id, also if it was called before WatchStop. The
	// returned function ends the watch.
	WatchStop(ctx context.Context, id string, f func()) (unwatch func(), err error)
}

// DefaultStreamTTL is how long a finished stream's log is kept, unless a
// store is configured otherwise.
const DefaultStreamTTL = 5 * time.Minute

// ChatIndex is implemented by stores that map a chat's id (the AI SDK's
// useChat id: [Request].ID) to the stream that answers in it, so that
// [Handler.ChatStreamHandler] finds the running stream of a chat from any
// instance sharing the store. [MemoryStore] and package redisstore
// implement it.
type ChatIndex interface {
	// SetChatStream notes that streamID answers in chatID, replacing any
	// earlier stream; the note lasts at most ttl.
	SetChatStream(ctx context.Context, chatID, streamID string, ttl time.Duration) error
	// ChatStream returns the stream noted for chatID, or
	// ErrStreamNotFound.
	ChatStream(ctx context.Context, chatID string) (string, error)
	// EndChatStream says streamID has ended: if the note still names it,
	// it is kept only keep longer (0: removed).
	EndChatStream(ctx context.Context, chatID, streamID string, keep time.Duration) error
}
