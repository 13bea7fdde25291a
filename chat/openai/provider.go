package openai

import (
	"context"
	"errors"
	"fmt"
	"io"
	"iter"
	"math"
	"net"
	"net/http"
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
	p := &Provider{headerTimeout: DefaultResponseHeaderTimeout}
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

// Stream implements chat.Provider.
func (p *Provider) Stream(ctx context.Context, req *chat.Request) iter.Seq2[chat.Chunk, error] {
	return func(yield func(chat.Chunk, error) bool) {
		creq, err := p.request(req)
		if err != nil {
			yield(chat.Chunk{}, err)
			return
		}
		tr := new(tracker)
		stream, err := p.client.CreateChatCompletionStream(context.WithValue(ctx, trackerKey{}, tr), creq)
		if err != nil {
			yield(chat.Chunk{}, classify(ctx, err))
			return
		}
		defer stream.Close()
		for {
			resp, err := stream.Recv()
			if errors.Is(err, io.EOF) {
				if !tr.sawDone() {
					yield(chat.Chunk{}, &chat.Error{Code: chat.CodeTruncated, Err: errTruncated})
				}
				return
			}
			if err != nil {
				yield(chat.Chunk{}, classify(ctx, err))
				return
			}
			c := chat.Chunk{Model: resp.Model, ID: resp.ID}
			for _, ch := range resp.Choices {
				if ch.Index == 0 {
					c.Text = ch.Delta.Content
					c.FinishReason = string(ch.FinishReason)
				}
			}
			if u := resp.Usage; u != nil {
				c.Usage = &chat.Usage{InputTokens: u.PromptTokens, OutputTokens: u.CompletionTokens, TotalTokens: u.TotalTokens}
			}
			if !yield(c, nil) {
				return
			}
		}
	}
}

var errTruncated = errors.New("openai: upstream stream ended without data: [DONE]")

func (p *Provider) request(req *chat.Request) (goopenai.ChatCompletionRequest, error) {
	r := goopenai.ChatCompletionRequest{
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
	r.Messages = make([]goopenai.ChatCompletionMessage, len(req.Messages))
	for i, m := range req.Messages {
		r.Messages[i] = goopenai.ChatCompletionMessage{Role: string(m.Role), Content: m.Content}
	}
	return r, nil
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
