package main

import (
	"context"
	"iter"
	"time"

	"github.com/ssechat/ssechat/chat"
)

// echoModel is the built-in mock model: it answers with the last user
// message, exactly, a few runes per chunk, waiting delay before each chunk.
// It reports usage as an upstream does, counting one token per rune.
type echoModel struct {
	delay time.Duration
	runes int
}

func (m echoModel) Stream(ctx context.Context, req *chat.Request) iter.Seq2[chat.Chunk, error] {
	return func(yield func(chat.Chunk, error) bool) {
		var text []rune
		for i := len(req.Messages) - 1; i >= 0; i-- {
			if req.Messages[i].Role == chat.RoleUser {
				text = []rune(req.Messages[i].Content)
				break
			}
		}
		// A first, empty chunk starts the stream, as a real upstream's role
		// chunk does.
		if !yield(chat.Chunk{Model: "echo-1"}, nil) {
			return
		}
		input := 0
		for _, msg := range req.Messages {
			input += len([]rune(msg.Content))
		}
		usage := &chat.Usage{InputTokens: input, OutputTokens: len(text), TotalTokens: input + len(text)}
		var timer *time.Timer
		for len(text) > 0 {
			n := min(m.runes, len(text))
			if m.delay > 0 {
				if timer == nil {
					timer = time.NewTimer(m.delay)
					defer timer.Stop()
				} else {
					timer.Reset(m.delay)
				}
				select {
				case <-ctx.Done():
					yield(chat.Chunk{}, ctx.Err())
					return
				case <-timer.C:
				}
			}
			if !yield(chat.Chunk{Text: string(text[:n])}, nil) {
				return
			}
			text = text[n:]
		}
		yield(chat.Chunk{FinishReason: "stop", Usage: usage}, nil)
	}
}
