package main

import (
	"context"
	"encoding/json"
	"fmt"
	"iter"
	"time"
	"unicode/utf8"

	"github.com/ssechat/ssechat/chat"
)

// echoModel is the built-in mock model: it answers with the last user
// message, exactly, a few runes per chunk, waiting delay before each chunk.
// It reports usage as an upstream does, counting one token per rune. With
// reasoning it first thinks aloud ("Thinking about: <the message>"); with
// tools it calls lengthTool on the message, streams the call and the
// result, and answers with the result instead of the echo.
type echoModel struct {
	delay     time.Duration
	runes     int
	reasoning bool
	tools     bool
}

// thinking is what the mock reasons about a message.
func thinking(msg string) string { return "Thinking about: " + msg }

func (m echoModel) Stream(ctx context.Context, req *chat.Request) iter.Seq2[chat.Chunk, error] {
	return func(yield func(chat.Chunk, error) bool) {
		var msg string
		for i := len(req.Messages) - 1; i >= 0; i-- {
			if req.Messages[i].Role == chat.RoleUser {
				msg = req.Messages[i].Content
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
			input += utf8.RuneCountInString(msg.Content)
		}
		var timer *time.Timer
		defer func() {
			if timer != nil {
				timer.Stop()
			}
		}()
		wait := func() bool {
			if m.delay <= 0 {
				return true
			}
			if timer == nil {
				timer = time.NewTimer(m.delay)
			} else {
				timer.Reset(m.delay)
			}
			select {
			case <-ctx.Done():
				yield(chat.Chunk{}, ctx.Err())
				return false
			case <-timer.C:
				return true
			}
		}
		// stream yields text in pieces of m.runes runes, as piece makes
		// the chunk; it reports whether to go on.
		stream := func(text string, piece func(string) chat.Chunk) bool {
			runes := []rune(text)
			for len(runes) > 0 {
				n := min(m.runes, len(runes))
				if !wait() || !yield(piece(string(runes[:n])), nil) {
					return false
				}
				runes = runes[n:]
			}
			return true
		}
		output := 0
		if m.reasoning {
			r := thinking(msg)
			output += utf8.RuneCountInString(r)
			if !stream(r, func(s string) chat.Chunk { return chat.Chunk{Reasoning: s} }) {
				return
			}
		}
		answer := msg
		if m.tools {
			args, _ := json.Marshal(map[string]string{"text": msg})
			call := chat.ToolCall{ID: "call_1", Name: lengthTool.Name}
			first := true
			if !stream(string(args), func(s string) chat.Chunk {
				c := chat.ToolCall{ID: call.ID, ArgumentsDelta: s}
				if first { // the mock runs the tool itself
					c.Name, c.Server, first = call.Name, true, false
				}
				return chat.Chunk{ToolCalls: []chat.ToolCall{c}}
			}) {
				return
			}
			call.Arguments = string(args)
			// The call is complete; while the tool runs, a status line for
			// the client (transient: shown now, never logged).
			if !wait() || !yield(chat.Chunk{ToolCalls: []chat.ToolCall{{ID: call.ID, Arguments: call.Arguments}}}, nil) {
				return
			}
			if !wait() || !yield(chat.Chunk{Data: []chat.Data{{Name: "status", Value: json.RawMessage(`"Counting the characters…"`), Transient: true}}}, nil) {
				return
			}
			if !wait() {
				return
			}
			res, _ := chat.RunTool(ctx, &lengthTool, call)
			if !yield(chat.Chunk{ToolResults: []chat.ToolResult{res}}, nil) {
				return
			}
			var out struct{ Characters int }
			_ = json.Unmarshal(res.Output, &out)
			answer = fmt.Sprintf("Your message has %d characters.", out.Characters)
		}
		output += utf8.RuneCountInString(answer)
		if !stream(answer, func(s string) chat.Chunk { return chat.Chunk{Text: s} }) {
			return
		}
		usage := &chat.Usage{InputTokens: input, OutputTokens: output, TotalTokens: input + output}
		if m.reasoning {
			usage.ReasoningTokens = utf8.RuneCountInString(thinking(msg))
		}
		yield(chat.Chunk{FinishReason: "stop", Usage: usage}, nil)
	}
}
