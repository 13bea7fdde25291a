package openai

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"iter"
	"math"
	"net"
	"net/http"
	"strings"
	"time"

	goopenai "github.com/sashabaranov/go-openai"

	"github.com/ssechat/ssechat/chat"
)

// Option configures a [Provider].
type Option interface{ apply(*Provider) }

type optionFunc func(*Provider)

func (f optionFunc) apply(p *Provider) { f(p) }

// WithModel sets the model used when a request names none. Default none: a
// request must then name its model (or a prepare hook must choose one).
// It panics if model is empty.
func WithModel(model string) Option {
	if model == "" {
		panic("openai: WithModel(\"\"): empty model")
	}
	return optionFunc(func(p *Provider) { p.model = model })
}

// Provider streams chat completions through go-openai. It is safe for
// concurrent use.
type Provider struct {
	client        *goopenai.Client
	model         string
	headerTimeout time.Duration
	tools         map[string]*chat.Tool
	toolOrder     []string
	maxSteps      int
	developer     bool
}

var _ chat.Provider = (*Provider)(nil)

// New returns a Provider for the endpoint that cfg describes (BaseURL,
// key, HTTPClient; see goopenai.DefaultConfig). It wraps cfg.HTTPClient
// (when it is nil or an http.Client with no Transport, as DefaultConfig
// makes it, http.DefaultTransport's settings plus [DefaultConnectTimeout]
// and [DefaultResponseHeaderTimeout] are used) to watch each stream for
// "data: [DONE]" and to drop SSE comment lines, which go-openai would
// otherwise count against cfg.EmptyMessagesLimit and keep in memory.
func New(cfg goopenai.ClientConfig, opts ...Option) *Provider {
	p := &Provider{headerTimeout: DefaultResponseHeaderTimeout, maxSteps: DefaultMaxSteps}
	for _, o := range opts {
		o.apply(p)
	}
	inner := cfg.HTTPClient
	switch c := inner.(type) {
	case nil:
		inner = &http.Client{Transport: transport(p.headerTimeout)}
	case *http.Client:
		if c.Transport == nil { // as goopenai.DefaultConfig makes it
			with := *c
			with.Transport = transport(p.headerTimeout)
			inner = &with
		}
	}
	cfg.HTTPClient = doer{inner}
	p.client = goopenai.NewClientWithConfig(cfg)
	return p
}

// Timeouts of the HTTP client New makes when cfg.HTTPClient is nil.
const (
	// DefaultConnectTimeout bounds connecting to the upstream (TCP and TLS
	// each).
	DefaultConnectTimeout = 10 * time.Second
	// DefaultResponseHeaderTimeout bounds the wait for the upstream's
	// response headers, which OpenAI-compatible APIs send before the first
	// token; the wait for tokens after them is the stream's (see
	// middleware.StreamTimeout).
	DefaultResponseHeaderTimeout = 2 * time.Minute
)

// WithResponseHeaderTimeout sets how long the transport that New gives
// the config's client (when it has none) waits for the upstream's response headers.
// Default [DefaultResponseHeaderTimeout]. It panics if d is not positive.
func WithResponseHeaderTimeout(d time.Duration) Option {
	if d <= 0 {
		panic(fmt.Sprintf("openai: WithResponseHeaderTimeout(%v): must be positive", d))
	}
	return optionFunc(func(p *Provider) { p.headerTimeout = d })
}

// transport is http.DefaultTransport's settings with connect and
// response-header timeouts: without them an upstream that accepts the
// connection and never answers holds the stream until the client leaves.
func transport(headerTimeout time.Duration) *http.Transport {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.DialContext = (&net.Dialer{Timeout: DefaultConnectTimeout, KeepAlive: 30 * time.Second}).DialContext
	t.TLSHandshakeTimeout = DefaultConnectTimeout
	t.ResponseHeaderTimeout = headerTimeout
	return t
}

// Stream implements chat.Provider. With tools (see [WithTools]) it runs
// the loop: a step streams the model's answer; when the model calls tools
// that are all registered, the provider runs them, streams their results,
// gives them back to the model and takes the next step, up to the step
// limit. Usage is summed over the steps.
func (p *Provider) Stream(ctx context.Context, req *chat.Request) iter.Seq2[chat.Chunk, error] {
	return func(yield func(chat.Chunk, error) bool) {
		// The request on the heap, and each step in a function of its
		// own: the handler may write each chunk from within yield, on the
		// request's goroutine, whose stack then stays small.
		preq, err := p.request(req)
		if err != nil {
			yield(chat.Chunk{}, err)
			return
		}
		var usage *chat.Usage
		used := make(map[string]bool) // tool call ids of the answer so far
		for step := 1; ; step++ {
			st := runStep(p, ctx, preq, used, yield)
			if st.err != nil || st.stopped || !p.afterStep(ctx, preq, &st, &usage, step, yield) {
				return
			}
		}
	}
}

// afterStep ends the answer after a step of the model's, or runs the
// server's tools that the step called and reports whether to take the
// next step.
//
//go:noinline
func (p *Provider) afterStep(ctx context.Context, creq *goopenai.ChatCompletionRequest, st *stepResult, usage **chat.Usage, step int, yield func(chat.Chunk, error) bool) bool {
	*usage = addUsage(*usage, st.usage)
	calls := st.calls.complete()
	server := p.serverCalls(calls)
	if st.finish != "tool_calls" || len(server) == 0 {
		yield(chat.Chunk{FinishReason: st.finish, Usage: *usage}, nil)
		return false
	}
	// The model waits for the results: run the server's tools, stream the
	// results, and give them back.
	results, ok := p.runTools(ctx, server)
	if !ok {
		yield(chat.Chunk{}, ctx.Err())
		return false
	}
	if !yield(chat.Chunk{ToolResults: results}, nil) {
		return false
	}
	if len(server) < len(calls) {
		// Calls to the client's own tools as well: the answer ends for the
		// client to run them (the model needs every result).
		yield(chat.Chunk{FinishReason: "tool_calls", Usage: *usage}, nil)
		return false
	}
	if step >= p.maxSteps {
		// The limit: the answer ends with the results, as the model's last
		// step did, with tool_calls.
		yield(chat.Chunk{FinishReason: "tool_calls", Usage: *usage}, nil)
		return false
	}
	creq.Messages = append(creq.Messages, assistantTurn(st.text, calls))
	for _, r := range results {
		creq.Messages = append(creq.Messages, toolTurn(r))
	}
	return true
}

// stepResult is what one call to the model gave.
type stepResult struct {
	text    string
	calls   *calls
	finish  string
	usage   *chat.Usage
	err     error // yielded already
	stopped bool  // the consumer stopped
}

// runStep streams one chat completion, yielding its parts (not its finish
// reason and usage, which Stream yields once the loop ends).
//
//go:noinline
func runStep(p *Provider, ctx context.Context, creq *goopenai.ChatCompletionRequest, used map[string]bool, yield func(chat.Chunk, error) bool) (st stepResult) {
	st.calls = &calls{used: used, server: func(name string) bool { return p.tools[name] != nil }}
	fail := func(err error) stepResult {
		st.err = err
		yield(chat.Chunk{}, err)
		return st
	}
	tr := new(tracker)
	stream, err := openStream(p, ctx, tr, creq)
	if err != nil {
		return fail(classify(ctx, err))
	}
	defer stream.Close()
	var text strings.Builder
	for {
		var c chat.Chunk
		err := st.recv(stream, &c)
		if errors.Is(err, io.EOF) {
			if !tr.sawDone() {
				return fail(&chat.Error{Code: chat.CodeTruncated, Err: errTruncated})
			}
			st.text = text.String()
			return st
		}
		if perr := (*chat.Error)(nil); errors.As(err, &perr) {
			return fail(perr) // a tool call the model got wrong
		}
		if err != nil {
			return fail(classify(ctx, err))
		}
		text.WriteString(c.Text)
		if !yield(c, nil) {
			st.stopped = true
			return st
		}
	}
}

// recv reads the stream's next response into c. Out of runStep: the
// response is large, and needed only until c is made. A tool call that the
// model got wrong is a *chat.Error.
//
//go:noinline
func (st *stepResult) recv(stream *goopenai.ChatCompletionStream, c *chat.Chunk) error {
	resp, err := stream.Recv()
	if err != nil {
		return err
	}
	*c = chat.Chunk{Model: resp.Model, ID: resp.ID}
	for i := range resp.Choices {
		ch := &resp.Choices[i]
		if ch.Index != 0 {
			continue
		}
		c.Text = ch.Delta.Content
		c.Reasoning = ch.Delta.ReasoningContent
		for _, tc := range ch.Delta.ToolCalls {
			piece, err := st.calls.piece(tc)
			if err != nil {
				return &chat.Error{Code: chat.CodeUpstreamError, Err: err}
			}
			c.ToolCalls = append(c.ToolCalls, piece)
		}
		if ch.FinishReason != "" {
			st.finish = string(ch.FinishReason)
			// Every call is complete when the model finishes.
			c.ToolCalls = append(c.ToolCalls, st.calls.finish()...)
		}
	}
	if u := resp.Usage; u != nil {
		st.usage = &chat.Usage{InputTokens: u.PromptTokens, OutputTokens: u.CompletionTokens, TotalTokens: u.TotalTokens}
		if d := u.CompletionTokensDetails; d != nil {
			st.usage.ReasoningTokens = d.ReasoningTokens
		}
	}
	return nil
}

// openStream sends the request. Out of runStep: the request is copied to
// the stack for the call.
//
//go:noinline
func openStream(p *Provider, ctx context.Context, tr *tracker, creq *goopenai.ChatCompletionRequest) (*goopenai.ChatCompletionStream, error) {
	return p.client.CreateChatCompletionStream(context.WithValue(ctx, trackerKey{}, tr), *creq)
}

func addUsage(a, b *chat.Usage) *chat.Usage {
	switch {
	case a == nil:
		return b
	case b == nil:
		return a
	}
	return &chat.Usage{
		InputTokens: a.InputTokens + b.InputTokens, OutputTokens: a.OutputTokens + b.OutputTokens,
		TotalTokens: a.TotalTokens + b.TotalTokens, ReasoningTokens: a.ReasoningTokens + b.ReasoningTokens,
	}
}

var errTruncated = errors.New("openai: upstream stream ended without data: [DONE]")

func (p *Provider) request(req *chat.Request) (*goopenai.ChatCompletionRequest, error) {
	r := &goopenai.ChatCompletionRequest{
		Model:         req.Model,
		Stream:        true,
		StreamOptions: &goopenai.StreamOptions{IncludeUsage: true},
		MaxTokens:     req.MaxTokens,
		Stop:          req.Stop,
		User:          req.User,
		Temperature:   float32Param(req.Temperature),
		TopP:          float32Param(req.TopP),
	}
	if r.Model == "" {
		r.Model = p.model
	}
	if r.Model == "" {
		return r, &chat.Error{Code: chat.CodeInternal, Message: "no model is configured"}
	}
	if req.PresencePenalty != nil {
		r.PresencePenalty = float32(*req.PresencePenalty)
	}
	if req.FrequencyPenalty != nil {
		r.FrequencyPenalty = float32(*req.FrequencyPenalty)
	}
	if req.Seed != nil {
		s := int(*req.Seed)
		r.Seed = &s
	}
	if len(p.tools) > 0 {
		r.Tools = p.toolDefs()
	}
	// The client's own tools and choices, where the handler let them in
	// (chat.WithRequestTools).
	for i, raw := range req.Tools {
		var t goopenai.Tool
		if err := json.Unmarshal(raw, &t); err != nil || t.Type != goopenai.ToolTypeFunction || t.Function == nil || t.Function.Name == "" {
			return r, &chat.Error{Code: chat.CodeInvalidRequest, Message: fmt.Sprintf("tools[%d]: want {\"type\":\"function\",\"function\":{\"name\":...}}", i)}
		}
		if p.tools[t.Function.Name] != nil {
			return r, &chat.Error{Code: chat.CodeInvalidRequest, Message: fmt.Sprintf("tools[%d]: %q is a tool of the server's", i, t.Function.Name)}
		}
		r.Tools = append(r.Tools, t)
	}
	if len(req.ToolChoice) > 0 {
		r.ToolChoice = req.ToolChoice
	}
	if req.ParallelToolCalls != nil {
		r.ParallelToolCalls = *req.ParallelToolCalls
	}
	if len(req.ResponseFormat) > 0 {
		var rf goopenai.ChatCompletionResponseFormat
		if err := json.Unmarshal(req.ResponseFormat, &rf); err != nil || rf.Type == "" {
			return r, &chat.Error{Code: chat.CodeInvalidRequest, Message: "response_format: want {\"type\":\"text\"|\"json_object\"|\"json_schema\",...}"}
		}
		r.ResponseFormat = &rf
	}
	r.MaxCompletionTokens = req.MaxCompletionTokens
	r.ReasoningEffort = req.ReasoningEffort
	r.LogitBias = req.LogitBias
	r.Messages = make([]goopenai.ChatCompletionMessage, len(req.Messages))
	for i, m := range req.Messages {
		r.Messages[i] = p.message(&m)
	}
	return r, nil
}

// message converts one message. A developer message goes as system unless
// the provider was told the vendor takes it (WithDeveloperRole).
func (p *Provider) message(m *chat.Message) goopenai.ChatCompletionMessage {
	out := goopenai.ChatCompletionMessage{Role: string(m.Role), Content: m.Content, ToolCallID: m.ToolCallID, Name: m.Name}
	if m.Role == chat.RoleDeveloper && !p.developer {
		out.Role = goopenai.ChatMessageRoleSystem
	}
	if m.HasImages() {
		out.Content = ""
		for _, part := range m.Parts {
			switch part.Type {
			case "text":
				out.MultiContent = append(out.MultiContent, goopenai.ChatMessagePart{Type: goopenai.ChatMessagePartTypeText, Text: part.Text})
			case "image_url":
				out.MultiContent = append(out.MultiContent, goopenai.ChatMessagePart{Type: goopenai.ChatMessagePartTypeImageURL,
					ImageURL: &goopenai.ChatMessageImageURL{URL: part.ImageURL.URL, Detail: goopenai.ImageURLDetail(part.ImageURL.Detail)}})
			}
		}
	}
	for _, c := range m.ToolCalls {
		out.ToolCalls = append(out.ToolCalls, goopenai.ToolCall{ID: c.ID, Type: goopenai.ToolTypeFunction,
			Function: goopenai.FunctionCall{Name: c.Name, Arguments: c.Arguments}})
	}
	return out
}

// TakesImages reports that the provider passes image parts on: whether
// the model reads them is the vendor's.
func (p *Provider) TakesImages() bool { return true }

// WithDeveloperRole sends developer messages with the developer role, for
// OpenAI's own API; by default they go as system, which every
// OpenAI-compatible vendor takes.
func WithDeveloperRole() Option {
	return optionFunc(func(p *Provider) { p.developer = true })
}

// float32Param converts an optional parameter. go-openai omits zero values,
// so an explicit zero is sent as the smallest positive float32, the
// workaround its maintainers recommend.
func float32Param(v *float64) float32 {
	switch {
	case v == nil:
		return 0
	case *v == 0:
		return math.SmallestNonzeroFloat32
	default:
		return float32(*v)
	}
}
