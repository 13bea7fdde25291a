// Command server is a runnable ssechat server: POST /chat streams an answer
// over Server-Sent Events, /v1/chat/completions and /v1/models are OpenAI's
// API (streaming or not, for OpenAI's client libraries), /api/chat is the
// AI SDK's UI message stream (for useChat, with GET /api/chat/{id}/stream to
// resume and /api/chat/stop), and / serves a browser chat page.
//
//	go run ./examples/server                 # built-in mock model on 127.0.0.1:8080
//	open http://127.0.0.1:8080/              # the chat page
//	curl -N localhost:8080/chat -H 'Content-Type: application/json' \
//	     -d '{"messages":[{"role":"user","content":"你好, ssechat!"}]}'
//
// Without OPENAI_API_KEY it answers with a mock model that echoes the last
// user message a few runes at a time. With OPENAI_API_KEY it streams from an
// OpenAI-compatible API: OPENAI_BASE_URL picks the vendor (default OpenAI's),
// OPENAI_MODEL the model (default gpt-4o-mini).
//
// Flags:
//
//	-addr          listen address (default 127.0.0.1:8080)
//	-mock-delay    the mock model's delay per chunk (default 30ms; 0 for none)
//	-mock-reasoning  the mock thinks aloud first: reasoning "Thinking about:
//	               <the message>", then the echo
//	-mock-tools    the mock calls the server's one tool, message_length (also
//	               offered to a real model), and answers with its result
//	-keepalive     keep-alive comment interval on idle streams (default 15s; 0 for none)
//	-detach        how long a generation goes on after its client left, so
//	               that the client can resume (default 30s, since this
//	               server's clients resume; 0 cancels at once, the library's
//	               default)
//	-max-response  end each response after this long with a "reconnect"
//	               event, for clients with a request cap (WeChat: 50s; default 0: off)
//	-timeout       the longest a stream may run (default 15m; 0 for no limit)
//	-idle-timeout  how long the upstream may stay silent (no chunk) before
//	               the stream ends with a timeout (default 5m, for reasoning
//	               models; 0 for no limit); keep-alives do not count
//	-drain         on SIGTERM, how long running generations get to finish;
//	               then each ends with a retryable error event, and the
//	               finish hook runs for every stream (default 10s)
//	-models        the models a request may choose, comma-separated (default:
//	               only the server's model); any other gets 422
//	-max-tokens    the most tokens an answer may take; a request's
//	               max_tokens is capped to it, and set to it when absent
//	               (default 4096)
//	-blocklist     a file of words, one per line, that answers must not contain:
//	               text is held back until checked, and an answer with one
//	               ends with content_filtered
//	-retract       with -blocklist, the text clients show instead of such an
//	               answer's text (default: what was shown stays)
//	-store-max-bytes  without -redis, the most memory kept streams may take
//	               (default a quarter of the process's memory limit, its
//	               cgroup's, or the machine's RAM)
//	-redis         a Redis URL (default $REDIS_URL): keep stream logs in Redis,
//	               so that several instances can resume and stop each other's
//	               streams; without it they are kept in memory
//
// On a loopback address it answers only loopback host names (localhost,
// 127.0.0.1, [::1]), against DNS rebinding.
//
// POST /chat/stop with {"stream_id": "..."} stops a generation, on whichever
// instance runs it. A client resumes a stream by repeating its request with
// the last event id it saw (Last-Event-ID header, last_event_id query
// parameter or body field); GET /chat?stream_id=... follows one, for
// EventSource.
//
// OpenTelemetry is configured from the standard OTEL_* environment variables
// (go.opentelemetry.io/contrib/exporters/autoexport), and is off when they
// name no exporter. OTEL_TRACES_EXPORTER=console prints one "chat" span per
// stream when the server stops; OTEL_METRICS_EXPORTER=prometheus serves
// /metrics on localhost:9464 (OTEL_EXPORTER_PROMETHEUS_HOST and _PORT).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	neturl "net/url"
	"os"
	"os/signal"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"
	goopenai "github.com/sashabaranov/go-openai"

	"github.com/ssechat/ssechat/chat"
	"github.com/ssechat/ssechat/chat/moderation"
	"github.com/ssechat/ssechat/chat/openai"
	"github.com/ssechat/ssechat/chat/redisstore"
	"github.com/ssechat/ssechat/middleware"
)

// newStore returns the stream store: Redis when url is set, else memory.
func newStore(ctx context.Context, url string, maxBytes int64) (chat.Store, string, func(), error) {
	if url == "" {
		return chat.NewMemoryStore(chat.MemoryStoreOptions{MaxBytes: maxBytes}), "memory", func() {}, nil
	}
	opts, err := redis.ParseURL(url)
	if err != nil {
		// The parser's error quotes the URL, password and all.
		var uerr *neturl.Error
		if errors.As(err, &uerr) {
			err = uerr.Err
		}
		return nil, "", nil, fmt.Errorf("-redis: not a valid Redis URL: %v", err)
	}
	rdb := redis.NewClient(opts)
	pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := rdb.Ping(pctx).Err(); err != nil {
		rdb.Close()
		return nil, "", nil, fmt.Errorf("redis at %s: %w", opts.Addr, err)
	}
	store := redisstore.New(rdb, redisstore.Options{})
	return store, "redis", func() {
		store.Close()
		rdb.Close()
	}, nil
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stderr, nil); err != nil {
		fmt.Fprintln(os.Stderr, "server:", err)
		os.Exit(1)
	}
}

// handlerExit is how long, after the drain, the handlers get to send their
// last events and return before the server closes the connections.
const handlerExit = 5 * time.Second

// run serves until ctx is done, then shuts down gracefully. ready, if not
// nil, is called with the listening address.
func run(ctx context.Context, args []string, getenv func(string) string, logOut io.Writer, ready func(net.Addr)) error {
	fs := flag.NewFlagSet("server", flag.ContinueOnError)
	fs.SetOutput(logOut)
	addr := fs.String("addr", "127.0.0.1:8080", "listen address")
	mockDelay := fs.Duration("mock-delay", 30*time.Millisecond, "the mock model's delay per chunk (0 for none)")
	mockReasoning := fs.Bool("mock-reasoning", false, "the mock model thinks aloud (reasoning) before it answers")
	mockTools := fs.Bool("mock-tools", false, "the mock model calls the message_length tool and answers with its result")
	keepAlive := fs.Duration("keepalive", middleware.DefaultKeepAliveInterval, "keep-alive comment interval on idle streams (0 for none)")
	detach := fs.Duration("detach", 30*time.Second, "how long a generation goes on after its client left, for a resume (0 cancels at once)")
	maxResponse := fs.Duration("max-response", 0, "end each response after this long with a reconnect event (0 for never; 50s suits WeChat)")
	maxDuration := fs.Duration("timeout", 15*time.Minute, "the longest a stream may run (0 for no limit)")
	idle := fs.Duration("idle-timeout", 5*time.Minute, "how long the upstream may send nothing before the stream ends with a timeout (0 for no limit)")
	drain := fs.Duration("drain", 10*time.Second, "on SIGTERM, how long running generations get to finish before they are ended with a retryable error")
	models := fs.String("models", "", "the models a request may choose, comma-separated (default: only the server's model)")
	maxTokens := fs.Int("max-tokens", 4096, "the most tokens an answer may take (a request's max_tokens is capped to it)")
	redisURL := fs.String("redis", getenv("REDIS_URL"), "Redis URL for the shared stream store (default $REDIS_URL; empty keeps streams in memory)")
	retract := fs.String("retract", "", "with -blocklist, what clients show instead of an answer's text when a later part of it is blocked (default: what was shown stays)")
	storeMax := fs.Int64("store-max-bytes", chat.DefaultMaxBytes(), "without -redis, the most memory the kept streams may take (default: a quarter of this process's memory limit, cgroup limit or RAM)")
	blocklist := fs.String("blocklist", "", "a file of words (one per line) that answers must not contain: text is held back until checked, and an answer with one is cut off (content_filtered)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *detach < 0 || *maxResponse < 0 || *drain < 0 {
		return errors.New("-detach, -max-response and -drain must not be negative")
	}
	if *mockDelay < 0 {
		return errors.New("-mock-delay must not be negative")
	}
	if *maxDuration < 0 || *idle < 0 {
		return errors.New("-timeout and -idle-timeout must not be negative")
	}
	if *maxTokens < 1 {
		return errors.New("-max-tokens must be positive")
	}
	if *keepAlive < 0 {
		return errors.New("-keepalive must not be negative")
	}
	log := slog.New(slog.NewTextHandler(logOut, nil))
	tp, mp, err := setupTelemetry(ctx)
	if err != nil {
		return fmt.Errorf("OpenTelemetry: %w", err)
	}
	defer func() {
		// Flush what is left: the console exporter prints the spans now.
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = tp.Shutdown(sctx)
		_ = mp.Shutdown(sctx)
	}()

	var moderated chat.Option // with -blocklist
	if *storeMax < 1 {
		return errors.New("-store-max-bytes must be positive")
	}
	store, storeName, closeStore, err := newStore(ctx, *redisURL, *storeMax)
	if err != nil {
		return err
	}
	defer closeStore()

	provider, model, upstream := newProvider(getenv, echoModel{delay: *mockDelay, runes: 3, reasoning: *mockReasoning, tools: *mockTools})
	allowed := []string{model}
	if *models != "" {
		allowed = strings.Split(*models, ",")
	}
	if *blocklist != "" {
		f, err := os.Open(*blocklist)
		if err != nil {
			return fmt.Errorf("-blocklist: %w", err)
		}
		words, err := moderation.ReadWordList(f)
		f.Close()
		if err != nil {
			return fmt.Errorf("-blocklist %s: %w", *blocklist, err)
		}
		moderated = chat.WithModeration(chat.ModerationOptions{Moderator: words, Retract: *retract})
	}
	mux := http.NewServeMux()
	var stack []func(http.Handler) http.Handler // outermost first
	stack = append(stack, middleware.Recover(log), middleware.Telemetry(&middleware.TelemetryOptions{
		TracerProvider: tp, MeterProvider: mp, ProviderName: upstreamName(upstream),
	}))
	if *maxDuration > 0 || *idle > 0 {
		stack = append(stack, middleware.StreamTimeout(*maxDuration, *idle))
	}
	if *keepAlive > 0 {
		stack = append(stack, middleware.KeepAlive(*keepAlive))
	}
	wrap := func(h http.Handler) http.Handler {
		for i := len(stack) - 1; i >= 0; i-- {
			h = stack[i](h)
		}
		return h
	}
	options := []chat.Option{
		chat.WithStore(store), chat.WithDetach(*detach), chat.WithMaxResponse(*maxResponse),
		chat.WithAILabel(true), // the pages show "AI生成" / "AI-generated" on every answer
	}
	if moderated != nil {
		options = append(options, moderated)
	}
	options = append(options,
		// A real service authenticates here and sets req.Owner, so that
		// only the user who started a stream can resume or stop it; this
		// demo takes a session cookie (see session.go).
		chat.WithPrepare(func(r *http.Request, req *chat.Request) error {
			req.Owner = owner(r)
			if req.Op != chat.OpStart {
				return nil
			}
			// The server, not the client, decides what runs on its key.
			if req.Model == "" {
				req.Model = model
			}
			if !slices.Contains(allowed, req.Model) {
				return chat.NewError(chat.CodeInvalidRequest, "model: choose one of "+strings.Join(allowed, ", "))
			}
			// Either bound is capped; with neither, max_tokens is set.
			if req.MaxCompletionTokens > 0 {
				req.MaxCompletionTokens = min(req.MaxCompletionTokens, *maxTokens)
				req.MaxTokens = min(req.MaxTokens, *maxTokens)
			} else if req.MaxTokens == 0 || req.MaxTokens > *maxTokens {
				req.MaxTokens = *maxTokens
			}
			return nil
		}),
		chat.WithFinish(func(ctx context.Context, res *chat.Result) {
			attrs := []any{"stream", res.StreamID, "end", res.End, "duration", res.Duration.Round(time.Millisecond),
				"chunks", res.Chunks, "events", res.Events, "mode", res.Mode}
			var e *chat.Error
			if errors.As(res.Err, &e) {
				attrs = append(attrs, "code", e.Code) // the code only: causes may quote upstream secrets
			}
			log.InfoContext(ctx, "stream end", attrs...)
		}),
	)
	chatHandler := chat.NewHandler(provider, options...)
	mux.Handle("/chat", wrap(chatHandler))
	mux.Handle("/chat/stop", middleware.Recover(log)(chatHandler.StopHandler()))
	// OpenAI's API for its client libraries (base URL .../v1): chat
	// completions, streaming or not, with the clients' own tools, and the
	// models a request may choose.
	openaiHandler := chat.MountOpenAI(wrapMux{mux, wrap}, "/v1", provider, allowed, append(options, chat.WithRequestTools(true))...)
	// The AI SDK's UI message stream, for useChat front ends: the chat,
	// the resume of a chat's running stream, and a stop by chat id.
	uiHandler := chat.NewHandler(provider, append(options, chat.WithMode(chat.ModeUI), chat.WithRequestModes())...)
	mux.Handle("/api/chat", wrap(uiHandler))
	mux.Handle("GET /api/chat/{id}/stream", wrap(uiHandler.ChatStreamHandler()))
	mux.Handle("/api/chat/stop", middleware.Recover(log)(uiHandler.StopHandler()))
	mux.Handle("/", withSession(webHandler())) // the browser chat page, with a demo session

	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	var handler http.Handler = mux
	if isLoopback(ln.Addr()) {
		handler = loopbackOnly(mux) // against DNS rebinding
	}
	srv := &http.Server{
		Handler:           handler,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		// No WriteTimeout: streams set a deadline per write instead.
	}
	log.Info("listening", "page", "http://"+ln.Addr().String()+"/", "url", "http://"+ln.Addr().String()+"/chat", "model", model, "upstream", upstream, "store", storeName)
	if ready != nil {
		ready(ln.Addr())
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	log.Info("shutting down", "drain", *drain)
	// Stop listening, and wait for the handlers; meanwhile the chat
	// handlers give running generations the drain, then end the rest with
	// a retryable error event, in the log and on the wire, and run their
	// finish hooks.
	sctx, cancel := context.WithTimeout(context.Background(), *drain+handlerExit)
	defer cancel()
	shut := make(chan error, 1)
	go func() { shut <- srv.Shutdown(sctx) }()
	dctx, cancelDrain := context.WithTimeout(context.Background(), *drain)
	defer cancelDrain()
	var drains sync.WaitGroup
	for _, h := range []*chat.Handler{openaiHandler, uiHandler} {
		drains.Go(func() { _ = h.Shutdown(dctx) })
	}
	_ = chatHandler.Shutdown(dctx)
	drains.Wait()
	if err := <-shut; err != nil {
		srv.Close() // cut what did not end in time
	}
	if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// newProvider picks the OpenAI-compatible upstream when OPENAI_API_KEY is
// set, and the echo mock otherwise.
func newProvider(getenv func(string) string, mock echoModel) (p chat.Provider, model, upstream string) {
	key := getenv("OPENAI_API_KEY")
	if key == "" {
		return mock, "echo", "mock"
	}
	cfg := goopenai.DefaultConfig(key)
	if base := getenv("OPENAI_BASE_URL"); base != "" {
		cfg.BaseURL = base
	}
	model = getenv("OPENAI_MODEL")
	if model == "" {
		model = "gpt-4o-mini"
	}
	// The model is offered the server's tool; the provider runs it.
	return openai.New(cfg, openai.WithTools(lengthTool)), model, cfg.BaseURL
}

// wrapMux mounts handlers on a ServeMux through the middleware stack.
type wrapMux struct {
	mux  *http.ServeMux
	wrap func(http.Handler) http.Handler
}

func (m wrapMux) Handle(pattern string, h http.Handler) { m.mux.Handle(pattern, m.wrap(h)) }
