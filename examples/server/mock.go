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
		// The answer's state in a struct and each part in a method: the
		// handler writes each chunk from within yield, on the request's
		// goroutine, and the frames below it stay small (as a provider's
		// should: see chat.Provider).
		g := &echoGen{m: m, ctx: ctx, yield: yield}
		defer g.stop()
		var msg string
		for i := len(req.Messages) - 1; i >= 0; i-- {
			if req.Messages[i].Role == chat.RoleUser {
				msg = req.Messages[i].Content
				break
			}
		}
		if !g.begin() {
			return
		}
		input := 0
		for i := range req.Messages {
			input += utf8.RuneCountInString(req.Messages[i].Content)
		}
		output := 0
		if m.reasoning {
			r := thinking(msg)
			output += utf8.RuneCountInString(r)
			if !g.stream(r, pieceReasoning) {
				return
			}
		}
		answer := msg
		if m.tools {
			var ok bool
			if answer, ok = g.callTool(msg); !ok {
				return
			}
		}
		output += utf8.RuneCountInString(answer)
		if !g.stream(answer, pieceText) {
			return
		}
		g.finish(input, output, msg)
	}
}

// echoGen is one answer of the echo model.
type echoGen struct {
	m     echoModel
	ctx   context.Context
	yield func(chat.Chunk, error) bool
	timer *time.Timer
}

// begin yields a first, empty chunk, as a real upstream's role chunk
// starts its stream.
//
//go:noinline
func (g *echoGen) begin() bool { return g.yield(chat.Chunk{Model: "echo-1"}, nil) }

func (g *echoGen) stop() {
	if g.timer != nil {
		g.timer.Stop()
	}
}

// wait waits the delay before a chunk, and reports whether to go on.
func (g *echoGen) wait() bool {
	if g.m.delay <= 0 {
		return true
	}
	if g.timer == nil {
		g.timer = time.NewTimer(g.m.delay)
	} else {
		g.timer.Reset(g.m.delay)
	}
	select {
	case <-g.ctx.Done():
		g.yield(chat.Chunk{}, g.ctx.Err())
		return false
	case <-g.timer.C:
		return true
	}
}

// A piece makes the chunk of a few runes of text. It returns the chunk by
// value: a chunk that a func value fills in through a pointer would be
// allocated for every piece.
type piece func(s string) chat.Chunk

func pieceText(s string) chat.Chunk      { return chat.Chunk{Text: s} }
func pieceReasoning(s string) chat.Chunk { return chat.Chunk{Reasoning: s} }

// stream yields text in pieces of m.runes runes, as piece makes the chunk;
// it reports whether to go on.
func (g *echoGen) stream(text string, piece piece) bool {
	for text != "" {
		if !g.wait() {
			return false
		}
		n := 0
		for i := 0; i < g.m.runes && n < len(text); i++ {
			_, size := utf8.DecodeRuneInString(text[n:])
			n += size
		}
		if !g.yield(piece(text[:n]), nil) {
			return false
		}
		text = text[n:]
	}
	return true
}

// callTool streams a call of lengthTool on msg, runs it, streams the
// result, and returns the answer it makes.
//
//go:noinline
func (g *echoGen) callTool(msg string) (string, bool) {
	args, _ := json.Marshal(map[string]string{"text": msg})
	call := chat.ToolCall{ID: "call_1", Name: lengthTool.Name}
	first := true
	if !g.stream(string(args), func(s string) chat.Chunk {
		tc := chat.ToolCall{ID: call.ID, ArgumentsDelta: s}
		if first { // the mock runs the tool itself
			tc.Name, tc.Server, first = call.Name, true, false
		}
		return chat.Chunk{ToolCalls: []chat.ToolCall{tc}}
	}) {
		return "", false
	}
	call.Arguments = string(args)
	// The call is complete; while the tool runs, a status line for the
	// client (transient: shown now, never logged).
	if !g.wait() || !g.yield(chat.Chunk{ToolCalls: []chat.ToolCall{{ID: call.ID, Arguments: call.Arguments}}}, nil) {
		return "", false
	}
	if !g.wait() || !g.yield(chat.Chunk{Data: []chat.Data{{Name: "status", Value: json.RawMessage(`"Counting the characters…"`), Transient: true}}}, nil) {
		return "", false
	}
	if !g.wait() {
		return "", false
	}
	res, _ := chat.RunTool(g.ctx, &lengthTool, call)
	if !g.yield(chat.Chunk{ToolResults: []chat.ToolResult{res}}, nil) {
		return "", false
	}
	var out struct{ Characters int }
	_ = json.Unmarshal(res.Output, &out)
	return fmt.Sprintf("Your message has %d characters.", out.Characters), true
}

// finish yields the last chunk: the finish reason and the usage.
//
//go:noinline
func (g *echoGen) finish(input, output int, msg string) {
	usage := &chat.Usage{InputTokens: input, OutputTokens: output, TotalTokens: input + output}
	if g.m.reasoning {
		usage.ReasoningTokens = utf8.RuneCountInString(thinking(msg))
	}
	g.yield(chat.Chunk{FinishReason: "stop", Usage: usage}, nil)
}
