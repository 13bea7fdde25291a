package chattest

import (
	"context"
	"iter"
	"slices"
	"sync"
	"time"

	"github.com/ssechat/ssechat/chat"
)

// Provider is a scripted [chat.Provider]. Its fields are the script; set them
// before use. The zero value answers with no text and finish reason "stop".
// It is safe for concurrent use and records what it was asked.
type Provider struct {
	// Tokens are yielded in order, one chunk each.
	Tokens []string
	// Chunks, if set, are yielded instead of Tokens: a script of any
	// parts (reasoning, text, tool calls and results, data). Delay, Step,
	// Err and ErrAt apply to them as to tokens. A script with a chunk that
	// sets FinishReason ends there, without the finish chunk below.
	Chunks []chat.Chunk
	// Delay is waited before each token; a cancelled context ends the wait
	// at once.
	Delay time.Duration
	// FinishReason is sent on a last chunk with Usage. Default "stop".
	FinishReason string
	Usage        *chat.Usage
	// Err, if set, is yielded after ErrAt tokens (or chunks) instead of the
	// rest.
	Err   error
	ErrAt int
	// Wait, if set, holds the stream before its first token until it is
	// closed (or the context is cancelled): a silent upstream, as a
	// reasoning model before its first token.
	Wait <-chan struct{}
	// Step, if set, makes each token wait for a receive from it (or for the
	// context's end), so a test releases tokens one at a time and knows
	// exactly how far the stream is.
	Step <-chan struct{}
	// Block makes the stream wait, after its tokens, until its context is
	// cancelled, then yield the context's error.
	Block bool

	mu       sync.Mutex
	requests []chat.Request
	canceled chan struct{}
	once     sync.Once
}

var _ chat.Provider = (*Provider)(nil)

func (p *Provider) init() {
	p.once.Do(func() { p.canceled = make(chan struct{}) })
}

// Stream implements chat.Provider.
func (p *Provider) Stream(ctx context.Context, req *chat.Request) iter.Seq2[chat.Chunk, error] {
	p.init()
	p.mu.Lock()
	p.requests = append(p.requests, cloneRequest(req))
	p.mu.Unlock()
	return func(yield func(chat.Chunk, error) bool) {
		// Close Canceled when this stream ends because of its context.
		defer func() {
			if ctx.Err() != nil {
				p.mu.Lock()
				select {
				case <-p.canceled:
				default:
					close(p.canceled)
				}
				p.mu.Unlock()
			}
		}()
		if p.Wait != nil {
			select {
			case <-ctx.Done():
				yield(chat.Chunk{}, ctx.Err())
				return
			case <-p.Wait:
			}
		}
		script := p.Chunks
		if script == nil {
			script = make([]chat.Chunk, len(p.Tokens))
			for i, tok := range p.Tokens {
				script[i] = chat.Chunk{Text: tok}
			}
		}
		for i, c := range script {
			if p.Err != nil && i == p.ErrAt {
				yield(chat.Chunk{}, p.Err)
				return
			}
			if p.Step != nil {
				select {
				case <-ctx.Done():
					yield(chat.Chunk{}, ctx.Err())
					return
				case <-p.Step:
				}
			}
			if p.Delay > 0 {
				t := time.NewTimer(p.Delay)
				select {
				case <-ctx.Done():
					t.Stop()
					yield(chat.Chunk{}, ctx.Err())
					return
				case <-t.C:
				}
			}
			if ctx.Err() != nil {
				yield(chat.Chunk{}, ctx.Err())
				return
			}
			if !yield(c, nil) {
				return
			}
		}
		if p.Err != nil {
			yield(chat.Chunk{}, p.Err)
			return
		}
		if p.Block {
			<-ctx.Done()
			yield(chat.Chunk{}, ctx.Err())
			return
		}
		for _, c := range p.Chunks {
			if c.FinishReason != "" {
				return // the script finished the answer itself
			}
		}
		finish := p.FinishReason
		if finish == "" {
			finish = "stop"
		}
		yield(chat.Chunk{FinishReason: finish, Usage: p.Usage}, nil)
	}
}

// Calls reports how many streams were started.
func (p *Provider) Calls() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.requests)
}

// Requests returns copies of the requests the provider was called with.
func (p *Provider) Requests() []chat.Request {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.requests)
}

// Canceled is closed once a stream has ended because its context was
// cancelled: the provider saw the client go away.
func (p *Provider) Canceled() <-chan struct{} {
	p.init()
	return p.canceled
}

func cloneRequest(r *chat.Request) chat.Request {
	c := *r
	c.Messages = slices.Clone(r.Messages)
	c.Stop = slices.Clone(r.Stop)
	return c
}
