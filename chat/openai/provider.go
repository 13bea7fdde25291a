package openai

import (
	"context"
	"errors"
	"io"
	"iter"
	"math"
	"net/http"

	goopenai "github.com/sashabaranov/go-openai"

	"github.com/ssechat/ssechat/chat"
)

// Option configures a [Provider].
type Option interface{ apply(*Provider) }

type optionFunc func(*Provider)

func (f optionFunc) apply(p *Provider) { f(p) }

// WithModel sets the model used when a request names none. Default none: a
// request must then name its model (or a prepare hook must choose one).
func WithModel(model string) Option { return optionFunc(func(p *Provider) { p.model = model }) }

// Provider streams chat completions through go-openai. It is safe for
// concurrent use.
type Provider struct {
	client *goopenai.Client
	model  string
}

var _ chat.Provider = (*Provider)(nil)

// New returns a Provider for the endpoint that cfg describes (BaseURL,
// key, HTTPClient; see goopenai.DefaultConfig). It wraps cfg.HTTPClient
// (http.DefaultClient's settings when nil) to watch each stream for
// "data: [DONE]" and to drop SSE comment lines, which go-openai would
// otherwise count against cfg.EmptyMessagesLimit and keep in memory.
func New(cfg goopenai.ClientConfig, opts ...Option) *Provider {
	inner := cfg.HTTPClient
	if inner == nil {
		inner = &http.Client{}
	}
	cfg.HTTPClient = doer{inner}
	p := &Provider{client: goopenai.NewClientWithConfig(cfg)}
	for _, o := range opts {
		o.apply(p)
	}
	return p
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
