package chat

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/ssechat/ssechat/internal/apart"
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
	EndStopped       EndReason = "stopped"        // Stop was called for the stream
	EndInternal      EndReason = "internal"       // the stream store failed
	EndShutdown      EndReason = "shutdown"       // Handler.Shutdown ended it
	// EndContentFiltered: moderation blocked the answer (WithModeration).
	EndContentFiltered EndReason = "content_filtered"
)

// Result describes a finished stream, for the finish hook.
type Result struct {
	StreamID string
	Request  *Request
	Mode     Mode
	// Text is all the text the provider produced, also when cut short;
	// Reasoning all its reasoning.
	Text, Reasoning string
	// ToolCalls are the tool calls that completed, in order; ToolResults
	// the results the provider streamed; Data the data parts that are not
	// transient (of parts with the same name and id, the last).
	ToolCalls    []ToolCall
	ToolResults  []ToolResult
	Data         []Data
	FinishReason string
	Usage        *Usage
	// ResponseModel and ResponseID are what the provider reported in
	// [Chunk].Model and ID; empty when it did not.
	ResponseModel, ResponseID string
	End                       EndReason
	// Err is the failure for End other than EndCompleted, an [*Error]
	// whose cause may hold upstream details: do not show it to clients.
	Err error
	// Chunks counts chunks from the provider; Events counts the stream's
	// events with an id in its mode (not a mode's markers without one,
	// such as the UI stream's text-start), terminal included (0 when the provider failed
	// before its first chunk: that failure is answered with a status).
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
// is bad), runs the prepare hook, calls the [Provider], and streams the
// chunks in the chosen [Mode]. Each event has an id "<stream id>.<n>", and
// the stream ends with exactly one terminal event. A provider failure before
// the first chunk is answered with an HTTP status and a JSON error; after
// it, with an error event. The finish hook then runs with what was produced.
//
// Every stream is logged in the handler's [Store] (in memory by default), so
// a client that lost its connection can resume: the same POST carrying the
// last event id it saw (the Last-Event-ID header, the last_event_id query
// parameter, or the body's last_event_id field) gets exactly the events
// after it, then the live ones, then the terminal event. A GET with
// ?stream_id= (or Last-Event-ID) follows a stream the same way, for
// EventSource. A resume after the last event gets 204 No Content; an
// unknown or expired stream 404 with code stream_expired; another owner's
// stream 403.
//
// When the client disconnects, the provider's context is cancelled at once,
// unless [WithDetach] keeps the generation going for a grace period.
// [Handler.Stop] and [Handler.StopHandler] stop a generation explicitly.
//
// The provider runs in a goroutine of its own. If it panics, the stream ends
// with an internal error, and the panic is raised again on the request's
// goroutine when it still waits for the stream (so that recovery middleware
// sees it); a detached stream reports it in [Result].Err.
//
// Query parameters: mode (delta, snapshot or openai, where allowed) and ascii
// (1/true for ASCII-safe JSON). A resume keeps the stream's mode.
type Handler struct {
	provider     Provider
	maxBody      int64
	mode         Mode
	requestModes []Mode
	ascii        bool
	writeTimeout time.Duration
	prepare      PrepareFunc
	finish       FinishFunc
	store        Store
	grace        time.Duration
	maxResponse  time.Duration
	producers    producers
	// mirror holds the logs of the generations this process runs, when
	// the store is shared: the connections here follow them from memory,
	// and the store is read only by readers whose generation runs
	// elsewhere. Nil when the store is a MemoryStore.
	mirror       *MemoryStore
	maxReaders   int
	requestTools bool
	openaiAPI    bool               // WithOpenAIAPI
	moderation   *ModerationOptions // WithModeration
	aiLabel      bool               // WithAILabel
	readersMu    sync.Mutex
	readers      map[string]int // connections following each stream
}

// NewHandler returns a Handler streaming from p. It panics if p is nil.
// Defaults: body limit 1 MiB, mode delta, every mode selectable by request,
// UTF-8 (not ASCII-safe) JSON, 30 s write timeout, no hooks, a
// [MemoryStore] of its own with default limits, cancel at once on
// disconnect, no rotation. A Handler is safe for concurrent use.
func NewHandler(p Provider, opts ...Option) *Handler {
	if p == nil {
		panic("chat: NewHandler: nil Provider")
	}
	h := &Handler{
		provider:     p,
		maxBody:      DefaultMaxBodyBytes,
		mode:         ModeDelta,
		requestModes: modes(),
		maxReaders:   DefaultMaxReaders,
		readers:      make(map[string]int),
	}
	for _, o := range opts {
		o.apply(h)
	}
	if h.store == nil {
		h.store = NewMemoryStore(MemoryStoreOptions{})
	}
	if _, inProcess := h.store.(*MemoryStore); !inProcess {
		h.mirror = NewMemoryStore(MemoryStoreOptions{TTL: mirrorTTL})
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
	if err == nil {
		err = h.runPrepare(r, req)
	}
	if err != nil {
		// decode and prepare say what went wrong; the request's context
		// may be done by then (a body read that timed out closes it), which
		// must not turn their answer into "canceled".
		e, ok := err.(*Error)
		if !ok {
			e = asError(r.Context(), err)
		}
		_ = h.writeError(w, e)
		return
	}
	if req.Op == OpResume {
		h.resume(w, r, req, ascii)
		return
	}
	h.start(w, r, req, mode, ascii)
}

// runPrepare runs the prepare hook, and validates a new stream's request
// again after it. Every error is an *Error.
func (h *Handler) runPrepare(r *http.Request, req *Request) error {
	if h.prepare == nil {
		return nil
	}
	var err error
	apart.Do(func() { err = h.prepare(r, req) }) // the user's code: see apart.Do
	if err != nil {
		if e := (*Error)(nil); !errors.As(err, &e) {
			return &Error{Code: CodeInternal, Err: err}
		}
		return err
	}
	if req.Op == OpStart {
		return h.validate(req)
	}
	return nil
}

// validate checks a new stream's request, with what the handler's options
// allow.
func (h *Handler) validate(req *Request) error {
	if err := req.Validate(); err != nil {
		return err
	}
	if !h.requestTools && (len(req.Tools) > 0 || len(req.ToolChoice) > 0 || req.ParallelToolCalls != nil) {
		return invalid("tools: this server does not take tools from requests")
	}
	if ip, ok := h.provider.(ImageProvider); !ok || !ip.TakesImages() {
		for i := range req.Messages {
			if req.Messages[i].HasImages() {
				return invalid(fmt.Sprintf("messages[%d].content: this server's model does not take images", i))
			}
		}
	}
	return nil
}

// ImageProvider is a [Provider] that says whether it passes image parts
// of messages to its model. The handler refuses (422) a request with
// images for a provider that does not implement it, or says false.
type ImageProvider interface {
	Provider
	TakesImages() bool
}

// decode reads and validates the request. Every error is an *Error.
func (h *Handler) decode(w http.ResponseWriter, r *http.Request) (*Request, Mode, bool, error) {
	q := r.URL.Query()
	// A resume names its position in the header (EventSource), the query
	// (clients that cannot set headers) or the body (below).
	target := r.Header.Get("Last-Event-ID")
	if target == "" {
		target = q.Get("last_event_id")
	}
	if target == "" {
		target = q.Get("stream_id")
	}
	switch {
	case r.Method == http.MethodPost:
	case r.Method == http.MethodGet && target != "":
	case r.Method == http.MethodGet: // allowed, but only to follow a stream
		return nil, "", false, NewError(CodeBadRequest, "stream_id: required (GET follows a stream, with stream_id or Last-Event-ID; POST starts one)")
	default:
		w.Header().Set("Allow", "GET, POST")
		return nil, "", false, NewError(CodeMethodNotAllowed, "use POST")
	}
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
	req := new(Request)
	// A resume named in the header or query may come without a body.
	if r.Method == http.MethodPost && (target == "" || r.ContentLength != 0) {
		if err := h.decodeBody(w, r, req); err != nil {
			return nil, "", false, err
		}
	}
	if target == "" {
		target = req.LastEventID
	}
	if target != "" {
		id, _, err := parseEventID(target)
		if err != nil {
			return nil, "", false, err
		}
		req.Op, req.StreamID, req.LastEventID = OpResume, id, target
		return req, mode, ascii, nil
	}
	req.Op = OpStart
	if err := h.validate(req); err != nil {
		return nil, "", false, err
	}
	if h.openaiAPI && (req.Stream == nil || !*req.Stream) {
		mode = modeCompletion // OpenAI answers such a request with one object
	}
	return req, mode, ascii, nil
}

// decodeBody reads a JSON request body into req.
func (h *Handler) decodeBody(w http.ResponseWriter, r *http.Request, req *Request) error {
	ct, params, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || ct != "application/json" || (params["charset"] != "" && !strings.EqualFold(params["charset"], "utf-8")) {
		return &Error{Code: CodeUnsupportedMediaType, Message: "Content-Type must be application/json (UTF-8)"}
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, h.maxBody))
	if err != nil {
		if mbe := (*http.MaxBytesError)(nil); errors.As(err, &mbe) {
			return NewError(CodeRequestTooLarge, "the request body is larger than "+strconv.FormatInt(h.maxBody, 10)+" bytes")
		}
		if ne := net.Error(nil); errors.As(err, &ne) && ne.Timeout() {
			return &Error{Code: CodeRequestTimeout, Err: err}
		}
		return &Error{Code: CodeBadRequest, Message: "could not read the request body", Err: err}
	}
	if !utf8.Valid(body) {
		return NewError(CodeInvalidRequest, "the request body is not valid UTF-8")
	}
	// Request.UnmarshalJSON without a json.Unmarshal around it (see
	// Request.decode). encoding/json recurses for every level of the body
	// (a message, its parts): under the frames of a few middleware, a
	// body with a long message took the request's goroutine past its
	// first 8 KB of stack (see apart.Do).
	apart.Do(func() { err = req.decode(body) })
	if err != nil {
		msg := "the request body is not valid JSON"
		if te := (*json.UnmarshalTypeError)(nil); errors.As(err, &te) && te.Field != "" {
			msg = te.Field + ": wrong type " + te.Value
		}
		return &Error{Code: CodeBadRequest, Message: msg, Err: err}
	}
	return nil
}

// parseEventID splits an event id "<stream id>.<n>" into the stream id and
// n. A stream id alone gives n = -1: before the first event.
func parseEventID(s string) (string, int64, error) {
	id, seq, found := strings.Cut(s, ".")
	n := int64(-1)
	if found {
		var err error
		n, err = strconv.ParseInt(seq, 10, 64)
		if err != nil || n < 0 || seq[0] == '+' {
			return "", 0, NewError(CodeBadRequest, "last_event_id: want \"<stream id>.<n>\" as the stream's events carry it")
		}
	}
	if !validStreamID(id) {
		return "", 0, NewError(CodeBadRequest, "last_event_id: malformed stream id")
	}
	return id, n, nil
}

// validStreamID accepts the ids the handler makes (rand.Text) and any
// other short alphanumeric id.
func validStreamID(id string) bool {
	if len(id) == 0 || len(id) > 64 {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
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

// start begins a new stream: a producer fills its log while this
// connection follows it.
func (h *Handler) start(w http.ResponseWriter, r *http.Request, req *Request, mode Mode, ascii bool) {
	// In parts, each in a function of its own, so that a live stream's
	// goroutine carries only small frames below its provider (see
	// producer.generate).
	p := h.newStream(w, r, req, mode)
	switch {
	case p == nil:
	case h.grace == 0 && !h.rotates(mode):
		// The generation cannot outlive the request: it runs here.
		h.startLive(w, r, p, p.info, ascii)
	case !h.rotates(mode):
		// It may outlive the request, and writes here meanwhile.
		h.startAttached(w, r, p, ascii)
	default:
		h.startFollowed(w, r, p, ascii)
	}
}

// newStream creates a stream and its producer, or answers with an error
// and returns nil.
//
//go:noinline
func (h *Handler) newStream(w http.ResponseWriter, r *http.Request, req *Request, mode Mode) *producer {
	if h.producers.isClosing() {
		_ = h.writeError(w, NewError(CodeUnavailable, shutdownMessage))
		return nil
	}
	started := time.Now()
	info := &StreamInfo{
		ID: rand.Text(), Owner: req.Owner, Mode: mode, Model: req.Model, Created: started.Unix(),
		IncludeUsage: req.StreamOptions != nil && req.StreamOptions.IncludeUsage, AILabel: h.aiLabel,
	}
	if err := h.store.Create(r.Context(), info); err != nil {
		_ = h.writeError(w, storeError(err))
		return nil
	}
	p, err := h.newProducer(r, req, info, started)
	if err != nil {
		_ = h.writeError(w, storeError(err))
		return nil
	}
	if !h.producers.add(p) { // Shutdown began since the check above
		p.unwatch()
		p.cancel(errShutdown)
		ctx, cancel := context.WithTimeout(p.hookCtx, storeTimeout)
		// End the log (in the mirror too) so that nothing waits for it.
		_ = p.append(ctx, []Record{{Kind: RecordError, Code: CodeUnavailable, Message: shutdownMessage}})
		cancel()
		_ = h.writeError(w, NewError(CodeUnavailable, shutdownMessage))
		return nil
	}
	if idx, ok := h.store.(ChatIndex); ok && req.ID != "" {
		// The chat's running stream, for ChatStreamHandler (best effort:
		// the answer streams whether or not the note is made).
		_ = idx.SetChatStream(r.Context(), req.ID, info.ID, chatNoteTTL)
	}
	return p
}

// startFollowed runs p in a goroutine of its own, which may outlive the
// request, and follows its log: for a stream that [WithMaxResponse]
// rotates, whose connections end while it runs. The log reaches this
// connection through p's feed.
//
//go:noinline
func (h *Handler) startFollowed(w http.ResponseWriter, r *http.Request, p *producer, ascii bool) {
	info := p.info
	readCtx := r.Context()
	stopCancel := func() bool { return false }
	if h.grace == 0 {
		// Cancel at once: the client leaving (or a timeout) cancels the
		// generation with the request's cause; this connection reads on to
		// the terminal record, and to the producer's end at most.
		stopCancel = context.AfterFunc(r.Context(), func() { p.cancel(context.Cause(r.Context())) })
		// Unregistered on every return: net/http cancels the request's
		// context after ServeHTTP, and AfterFunc would then start a
		// goroutine per stream for nothing.
		defer stopCancel()
		var cancelRead context.CancelFunc
		readCtx, cancelRead = context.WithCancel(context.WithoutCancel(r.Context()))
		defer cancelRead()
		p.ended = cancelRead // reading stops, at the latest, when the producer has
	} else {
		p.watchLease(h.grace)
	}
	p.feed = newFeed()
	go p.run()

	switch h.follow(w, r, info, -1, ascii, readCtx, p) {
	case followRotated:
		if h.grace == 0 && stopCancel() {
			p.watchLease(RotationGrace) // detached until the client resumes
		}
	case followGone, followFailed:
		switch cause := context.Cause(r.Context()); {
		case errors.Is(cause, context.DeadlineExceeded):
			// A timeout (middleware.StreamTimeout, a deadline) ends the
			// generation under every policy: only a client that left is
			// waited for.
			p.cancel(cause)
			<-p.done
		case h.grace == 0:
			p.cancel(errClientGone)
			<-p.done
		}
	default:
		<-p.done
	}
	h.reportFollowed(r, p)
}

// reportFollowed reports a stream whose producer ran in a goroutine of its
// own to the middleware: what it did, or that it goes on detached; and
// raises a provider's panic again.
func (h *Handler) reportFollowed(r *http.Request, p *producer) {
	o := streamctx.ObserverFrom(r.Context())
	select {
	case <-p.done:
		if o != nil {
			o.Finished(report(p.res))
		}
		p.rethrow()
	default: // detached: the producer goes on
		if o != nil {
			o.Finished(&streamctx.Report{StreamID: p.info.ID, Model: p.req.Model, End: "detached", Duration: time.Since(p.res.Started)})
		}
	}
}

// resume follows an existing stream from the request's last event id.
func (h *Handler) resume(w http.ResponseWriter, r *http.Request, req *Request, ascii bool) {
	_, after, _ := parseEventID(req.LastEventID) // checked in decode
	info, err := h.store.Info(r.Context(), req.StreamID)
	if err != nil {
		_ = h.writeError(w, storeError(err))
		return
	}
	if info.Owner != req.Owner {
		_ = h.writeError(w, NewError(CodePermissionDenied, "this stream belongs to someone else"))
		return
	}
	h.follow(w, r, info, after, ascii, r.Context(), nil)
}

// Stop stops the generation of the stream with id streamID, on whichever
// instance sharing the handler's store runs it, whatever the disconnect
// policy. Its clients get an error event with code canceled; the finish
// hook reports [EndStopped]. Stopping a finished stream does nothing. An
// unknown or expired stream gives an [*Error] with [CodeStreamExpired].
func (h *Handler) Stop(ctx context.Context, streamID string) error {
	if !validStreamID(streamID) {
		return NewError(CodeBadRequest, "stream_id: malformed stream id")
	}
	if err := h.store.Stop(ctx, streamID); err != nil {
		return storeError(err)
	}
	return nil
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
		rep.HasUsage, rep.InputTokens, rep.OutputTokens, rep.ReasoningTokens = true, u.InputTokens, u.OutputTokens, u.ReasoningTokens
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

// chatNoteTTL bounds how long a chat's note names its stream, should the
// instance that runs it die before ending it.
const chatNoteTTL = time.Hour

// lateResume is how long after its end a chat's stream is still resumed by
// ChatStreamHandler: for a client whose connection dropped just before the
// end. After it, the chat has no active stream (204).
const lateResume = 10 * time.Second

// ChatStreamHandler returns the handler of the AI SDK's resume request: with
// useChat's resume option, a page that loads a chat sends GET
// {api}/{chatId}/stream. Mount it there, for instance at
// "GET /api/chat/{id}/stream" (the chat id is r.PathValue("id"), or the path
// segment before "/stream"). It answers 204 No Content when nothing runs in
// the chat, and otherwise follows the chat's stream from its start (the SDK
// rebuilds the message from it), in the stream's mode, on any instance
// that shares the store; a stream that ended less than 10 s ago is still
// replayed, so that a client cut just before the end loses nothing. It runs the prepare hook with req.Op [OpResume]
// and refuses another owner's stream (403). The store must implement
// [ChatIndex]; with one that does not, every chat answers 204.
func (h *Handler) ChatStreamHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet {
			w.Header().Set("Allow", http.MethodGet)
			_ = h.writeError(w, NewError(CodeMethodNotAllowed, "use GET"))
			return
		}
		chatID := r.PathValue("id")
		if chatID == "" {
			p := strings.TrimSuffix(r.URL.Path, "/stream")
			chatID = p[strings.LastIndexByte(p, '/')+1:]
		}
		if chatID == "" || len(chatID) > maxModelLen {
			_ = h.writeError(w, NewError(CodeBadRequest, "chat id: missing or too long"))
			return
		}
		idx, ok := h.store.(ChatIndex)
		if !ok {
			w.WriteHeader(http.StatusNoContent)
			return
		}
		id, err := idx.ChatStream(r.Context(), chatID)
		if errors.Is(err, ErrStreamNotFound) {
			w.Header().Set("Cache-Control", "no-store")
			w.WriteHeader(http.StatusNoContent)
			return
		}
		if err != nil {
			_ = h.writeError(w, storeError(err))
			return
		}
		req := &Request{Op: OpResume, StreamID: id, LastEventID: id}
		if err := h.runPrepare(r, req); err != nil {
			e, ok := err.(*Error)
			if !ok {
				e = asError(r.Context(), err)
			}
			_ = h.writeError(w, e)
			return
		}
		h.resume(w, r, req, h.ascii)
	})
}
