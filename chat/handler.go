package chat

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/ssechat/ssechat/internal/streamctx"
	"github.com/ssechat/ssechat/sse"
)

// EndReason says why a stream ended.
type EndReason string

// The end reasons a [Result] reports.
const (
	EndCompleted     EndReason = "completed"      // the provider finished
	EndClientGone    EndReason = "client_gone"    // the client disconnected
	EndUpstreamError EndReason = "upstream_error" // the provider failed
	EndTimeout       EndReason = "timeout"        // the request's deadline passed
)

// Result describes a finished stream, for the finish hook.
type Result struct {
	StreamID string
	Request  *Request
	Mode     Mode
	// Text is all the text the provider produced, also when cut short.
	Text         string
	FinishReason string
	Usage        *Usage
	// ResponseModel and ResponseID are what the provider reported in
	// [Chunk].Model and ID; empty when it did not.
	ResponseModel, ResponseID string
	End                       EndReason
	// Err is the failure for End other than EndCompleted, an [*Error]
	// whose cause may hold upstream details: do not show it to clients.
	Err error
	// Chunks counts chunks from the provider; Events counts events handed to
	// the writer (when the client left, the last batch may not have arrived).
	Chunks, Events int
	Started        time.Time
	Duration       time.Duration
	// FirstChunk is the time from Started to the first chunk (0 if none).
	FirstChunk time.Duration
}

// Handler serves chat completion streams over Server-Sent Events.
//
// A request is a POST with a JSON [Request] body. The handler decodes and
// validates it (answering 4xx with a JSON error and starting nothing when it
// is bad), runs the prepare hook, calls the [Provider] with the request's
// context, and streams the chunks in the chosen [Mode]. Each event has an id
// "<stream id>.<sequence>", and the stream ends with exactly one terminal
// event. A provider failure before the first chunk is answered with an HTTP
// status and a JSON error; after it, with an error event. When the client
// disconnects the provider's context is cancelled at once. The finish hook
// then runs with what was produced.
//
// Query parameters: mode (delta, snapshot or openai, where allowed) and ascii
// (1/true for ASCII-safe JSON).
type Handler struct {
	provider     Provider
	maxBody      int64
	mode         Mode
	requestModes []Mode
	ascii        bool
	writeTimeout time.Duration
	prepare      PrepareFunc
	finish       FinishFunc
}

// NewHandler returns a Handler streaming from p. It panics if p is nil.
// Defaults: body limit 1 MiB, mode delta, every mode selectable by request,
// UTF-8 (not ASCII-safe) JSON, 30 s write timeout, no hooks. A Handler is
// safe for concurrent use.
func NewHandler(p Provider, opts ...Option) *Handler {
	if p == nil {
		panic("chat: NewHandler: nil Provider")
	}
	h := &Handler{
		provider:     p,
		maxBody:      DefaultMaxBodyBytes,
		mode:         ModeDelta,
		requestModes: []Mode{ModeDelta, ModeSnapshot, ModeOpenAI},
	}
	for _, o := range opts {
		o.apply(h)
	}
	return h
}

// ServeHTTP implements http.Handler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	req, mode, ascii, err := h.decode(w, r)
	if err == nil {
		if ferr := sse.CheckFlush(w); ferr != nil {
			err = &Error{Code: CodeInternal, Message: "this server cannot stream responses", Err: ferr}
		}
	}
	if err == nil && h.prepare != nil {
		err = h.prepare(r, req)
		if err == nil {
			err = req.Validate()
		} else if e := (*Error)(nil); !errors.As(err, &e) {
			err = &Error{Code: CodeInternal, Err: err}
		}
	}
	if err != nil {
		_ = WriteError(w, asError(r.Context(), err))
		return
	}
	h.stream(w, r, req, mode, ascii)
}

// decode reads and validates the request. Every error is an *Error.
func (h *Handler) decode(w http.ResponseWriter, r *http.Request) (*Request, Mode, bool, error) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		return nil, "", false, NewError(CodeMethodNotAllowed, "use POST")
	}
	q := r.URL.Query()
	mode := h.mode
	if m := q.Get("mode"); m != "" {
		mode = Mode(m)
		if mode != h.mode && !slices.Contains(h.requestModes, mode) {
			return nil, "", false, NewError(CodeBadRequest, "mode: "+strconv.Quote(m)+" is not available")
		}
	}
	ascii := h.ascii
	if a := q.Get("ascii"); a != "" {
		on, err := strconv.ParseBool(a)
		if err != nil {
			return nil, "", false, NewError(CodeBadRequest, "ascii: want 1, 0, true or false")
		}
		ascii = ascii || on
	}
	ct, params, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || ct != "application/json" || (params["charset"] != "" && !strings.EqualFold(params["charset"], "utf-8")) {
		return nil, "", false, &Error{Code: CodeUnsupportedMediaType, Message: "Content-Type must be application/json (UTF-8)"}
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, h.maxBody))
	if err != nil {
		if mbe := (*http.MaxBytesError)(nil); errors.As(err, &mbe) {
			return nil, "", false, NewError(CodeRequestTooLarge, "the request body is larger than "+strconv.FormatInt(h.maxBody, 10)+" bytes")
		}
		return nil, "", false, &Error{Code: CodeBadRequest, Message: "could not read the request body", Err: err}
	}
	if !utf8.Valid(body) {
		return nil, "", false, NewError(CodeInvalidRequest, "the request body is not valid UTF-8")
	}
	req := new(Request)
	if err := json.Unmarshal(body, req); err != nil {
		msg := "the request body is not valid JSON"
		if te := (*json.UnmarshalTypeError)(nil); errors.As(err, &te) && te.Field != "" {
			msg = te.Field + ": wrong type " + te.Value
		}
		return nil, "", false, &Error{Code: CodeBadRequest, Message: msg, Err: err}
	}
	if err := req.Validate(); err != nil {
		return nil, "", false, err
	}
	return req, mode, ascii, nil
}

// errorBody is the JSON answer before a stream starts.
type errorBody struct {
	Error struct {
		Code    Code   `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

// WriteError answers with e before a stream has started: e's status and the
// JSON body {"error":{"code":...,"message":...}}, without e's cause. It
// returns the write's error. Handler uses it for every refusal; middleware
// uses it to end a response a handler left unstarted.
func WriteError(w http.ResponseWriter, e *Error) error {
	var body errorBody
	body.Error.Code, body.Error.Message = e.Code, e.ClientMessage()
	b, _ := json.Marshal(&body)
	h := w.Header()
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(e.Status())
	_, err := w.Write(b)
	return err
}

// stream runs the provider and writes the stream.
func (h *Handler) stream(w http.ResponseWriter, r *http.Request, req *Request, mode Mode, ascii bool) {
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	res := &Result{StreamID: rand.Text(), Request: req, Mode: mode, Started: time.Now()}
	enc := newEncoder(mode, ascii, res.StreamID, req, res.Started.Unix())
	// Middleware (package middleware) may start the stream before the
	// first chunk, to send keep-alives; after Claim, failures are events.
	st := starterFor(w, r.Context())
	if st != nil {
		st.Pend()
	}

	var (
		sw      *sse.Writer
		failure *Error
		goneErr error // why the client is unreachable, once it is
	)
	// open starts the stream when its first event is ready: headers and
	// events leave in one write.
	open := func() error {
		if st != nil {
			st.Claim()
		}
		var err error
		sw, err = sse.NewWriter(w, &sse.Options{WriteTimeout: h.writeTimeout, HeadersWithFirstWrite: true})
		if err == nil {
			enc.addStart()
		}
		return err
	}
	for chunk, err := range h.provider.Stream(ctx, req) {
		if err != nil {
			failure = asError(ctx, err)
			break
		}
		res.Chunks++
		if sw == nil {
			res.FirstChunk = time.Since(res.Started)
			if goneErr = open(); goneErr != nil {
				break
			}
		}
		if chunk.Text != "" {
			enc.addText(chunk.Text)
		}
		if chunk.FinishReason != "" {
			res.FinishReason = chunk.FinishReason
		}
		if chunk.Usage != nil {
			res.Usage = chunk.Usage
		}
		if res.ResponseModel == "" {
			res.ResponseModel = chunk.Model
		}
		if res.ResponseID == "" {
			res.ResponseID = chunk.ID
		}
		if goneErr = enc.flush(sw); goneErr != nil {
			cancel() // stop the upstream before the provider unwinds
			break
		}
	}
	cancel() // the provider is done, or must stop now
	if failure != nil && failure.Code == CodeCanceled {
		goneErr = failure
	}

	switch {
	case goneErr != nil:
		res.End, res.Err = EndClientGone, &Error{Code: CodeCanceled, Err: goneErr}
	case failure != nil:
		res.End, res.Err = EndUpstreamError, failure
		if failure.Code == CodeTimeout {
			res.End = EndTimeout
		}
		if sw == nil && (st == nil || !st.Claim()) {
			_ = WriteError(w, failure)
			break
		}
		if sw == nil { // a keep-alive started the stream: the failure is an event
			if err := open(); err != nil {
				break
			}
		}
		enc.addError(failure)
		_ = enc.flush(sw)
	default:
		res.End = EndCompleted
		if sw == nil { // an empty answer: still a well-formed stream
			if err := open(); err != nil {
				res.End, res.Err = EndClientGone, &Error{Code: CodeCanceled, Err: err}
				break
			}
		}
		if res.FinishReason == "" {
			res.FinishReason = "stop"
		}
		enc.addDone(res.FinishReason, res.Usage)
		if err := enc.flush(sw); err != nil {
			res.End, res.Err = EndClientGone, &Error{Code: CodeCanceled, Err: err}
		}
	}
	res.Text = enc.text.String()
	res.Events = int(enc.seq) // every event made was handed to the writer
	res.Duration = time.Since(res.Started)
	if st != nil {
		st.Ended() // not deferred: after a panic, middleware may still end the stream
	}
	if o := streamctx.ObserverFrom(r.Context()); o != nil {
		o.Finished(report(res))
	}
	if h.finish != nil {
		h.finish(context.WithoutCancel(r.Context()), res)
	}
}

// starterFor returns the stream middleware's Starter from ctx if w writes
// through it (a wrapper in between that buffers, like http.TimeoutHandler,
// hides it).
func starterFor(w http.ResponseWriter, ctx context.Context) streamctx.Starter {
	st := streamctx.StarterFrom(ctx)
	if st == nil {
		return nil
	}
	for {
		if s, ok := w.(streamctx.Starter); ok && s == st {
			return st
		}
		u, ok := w.(interface{ Unwrap() http.ResponseWriter })
		if !ok {
			return nil
		}
		w = u.Unwrap()
	}
}

// report describes res for an observer.
func report(res *Result) *streamctx.Report {
	rep := &streamctx.Report{
		StreamID:      res.StreamID,
		Model:         res.Request.Model,
		ResponseModel: res.ResponseModel,
		ResponseID:    res.ResponseID,
		FinishReason:  res.FinishReason,
		End:           string(res.End),
		FirstChunk:    res.FirstChunk,
		Duration:      res.Duration,
		Characters:    utf8.RuneCountInString(res.Text),
		Text:          res.Text,
	}
	if u := res.Usage; u != nil {
		rep.HasUsage, rep.InputTokens, rep.OutputTokens = true, u.InputTokens, u.OutputTokens
	}
	if e := (*Error)(nil); errors.As(res.Err, &e) && res.End != EndClientGone {
		rep.ErrorCode, rep.Retryable = string(e.Code), e.Retryable()
	}
	rep.Messages = make([]streamctx.Message, len(res.Request.Messages))
	for i, m := range res.Request.Messages {
		rep.Messages[i] = streamctx.Message{Role: string(m.Role), Content: m.Content}
	}
	return rep
}
