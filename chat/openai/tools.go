package openai

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"sync"

	goopenai "github.com/sashabaranov/go-openai"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/codes"
	semconv "go.opentelemetry.io/otel/semconv/v1.41.0"
	"go.opentelemetry.io/otel/trace"

	"github.com/ssechat/ssechat/chat"
)

// DefaultMaxSteps is how many calls to the model one answer may take with
// tools, unless [WithMaxSteps] says otherwise.
const DefaultMaxSteps = 5

// WithTools registers Go functions as tools: they are offered to the model
// with every request, and when the model calls them the provider runs them
// and gives their results back to it (see [Provider.Stream]). It panics on
// a tool that [chat.CheckTool] refuses, or on two with the same name.
func WithTools(tools ...chat.Tool) Option {
	byName := make(map[string]*chat.Tool, len(tools))
	for i := range tools {
		t := tools[i]
		if err := chat.CheckTool(&t); err != nil {
			panic("openai: WithTools: " + err.Error())
		}
		if byName[t.Name] != nil {
			panic(fmt.Sprintf("openai: WithTools: two tools named %q", t.Name))
		}
		byName[t.Name] = &t
	}
	return optionFunc(func(p *Provider) {
		if p.tools == nil {
			p.tools = make(map[string]*chat.Tool)
		}
		for name, t := range byName {
			p.tools[name] = t
			p.toolOrder = append(p.toolOrder, name)
		}
	})
}

// WithMaxSteps bounds the calls to the model that one answer takes with
// tools. When the model still calls tools at the last step, the tools run,
// their results are streamed, and the answer ends with finish reason
// "tool_calls". Default [DefaultMaxSteps]. It panics if n < 1.
func WithMaxSteps(n int) Option {
	if n < 1 {
		panic(fmt.Sprintf("openai: WithMaxSteps(%d): must be at least 1", n))
	}
	return optionFunc(func(p *Provider) { p.maxSteps = n })
}

// calls puts together the tool calls of one step from the chunks' pieces,
// by index (later pieces carry only the index and arguments).
type calls struct {
	list    []*callState
	byIndex map[int]*callState
	// used holds the ids of the answer's calls, over all its steps: a
	// vendor that numbers calls afresh each step (call_0 again) gets its
	// repeated ids made unique, since one answer's calls need distinct ids.
	used map[string]bool
	// server reports whether the provider runs a tool of this name.
	server func(name string) bool
}

type callState struct {
	id, name string
	args     []byte
	done     bool
}

// piece turns one delta.tool_calls element into a chat.ToolCall piece.
func (cs *calls) piece(tc goopenai.ToolCall) (chat.ToolCall, error) {
	if cs.byIndex == nil {
		cs.byIndex = make(map[int]*callState)
	}
	idx := len(cs.list) // no index: a vendor that sends each call whole
	if tc.Index != nil {
		idx = *tc.Index
	} else if tc.ID == "" && len(cs.list) > 0 {
		idx = len(cs.list) - 1 // no index and no id: the last call goes on
	}
	c := cs.byIndex[idx]
	if c == nil {
		if tc.Function.Name == "" {
			return chat.ToolCall{}, fmt.Errorf("openai: tool call %d starts without a function name", idx)
		}
		id := tc.ID
		if id == "" {
			id = "call_" + strconv.Itoa(idx)
		}
		for n := 2; cs.used[id]; n++ {
			id = strings.TrimSuffix(id, "~"+strconv.Itoa(n-1)) + "~" + strconv.Itoa(n)
		}
		if cs.used != nil {
			cs.used[id] = true
		}
		c = &callState{id: id, name: tc.Function.Name}
		cs.byIndex[idx] = c
		cs.list = append(cs.list, c)
		c.args = append(c.args, tc.Function.Arguments...)
		return chat.ToolCall{ID: c.id, Name: c.name, ArgumentsDelta: tc.Function.Arguments, Server: cs.server(c.name)}, nil
	}
	c.args = append(c.args, tc.Function.Arguments...)
	return chat.ToolCall{ID: c.id, ArgumentsDelta: tc.Function.Arguments}, nil
}

// finish returns the completing pieces of the calls still open.
func (cs *calls) finish() []chat.ToolCall {
	var out []chat.ToolCall
	for _, c := range cs.list {
		if !c.done && len(c.args) > 0 {
			c.done = true
			out = append(out, chat.ToolCall{ID: c.id, Arguments: string(c.args)})
		}
	}
	return out
}

// complete returns the step's calls, whole.
func (cs *calls) complete() []chat.ToolCall {
	out := make([]chat.ToolCall, len(cs.list))
	for i, c := range cs.list {
		out[i] = chat.ToolCall{ID: c.id, Name: c.name, Arguments: string(c.args)}
	}
	return out
}

// serverCalls returns the calls to registered tools.
func (p *Provider) serverCalls(calls []chat.ToolCall) []chat.ToolCall {
	var out []chat.ToolCall
	for _, c := range calls {
		if p.tools[c.Name] != nil {
			out = append(out, c)
		}
	}
	return out
}

var tracer = otel.Tracer("github.com/ssechat/ssechat/chat/openai")

// runTools runs the calls concurrently and returns their results in
// order; false when ctx ended (a stop, or the client left) first.
func (p *Provider) runTools(ctx context.Context, calls []chat.ToolCall) ([]chat.ToolResult, bool) {
	results := make([]chat.ToolResult, len(calls))
	var wg sync.WaitGroup
	for i, c := range calls {
		wg.Go(func() {
			ctx, span := tracer.Start(ctx, "execute_tool "+c.Name, trace.WithSpanKind(trace.SpanKindInternal), trace.WithAttributes(
				semconv.GenAIOperationNameExecuteTool,
				semconv.GenAIToolName(c.Name),
				semconv.GenAIToolCallID(c.ID),
				semconv.GenAIToolType("function"),
			))
			defer span.End()
			res, panicked := chat.RunTool(ctx, p.tools[c.Name], c)
			if res.Error != "" {
				span.SetStatus(codes.Error, res.Error)
				errType := "tool_error"
				if panicked != nil {
					errType = "panic"
				}
				span.SetAttributes(semconv.ErrorTypeKey.String(errType))
			}
			results[i] = res
		})
	}
	wg.Wait()
	return results, ctx.Err() == nil
}

// assistantTurn is the model's step as a message: its text and its calls.
func assistantTurn(text string, calls []chat.ToolCall) goopenai.ChatCompletionMessage {
	m := goopenai.ChatCompletionMessage{Role: goopenai.ChatMessageRoleAssistant, Content: text}
	for _, c := range calls {
		m.ToolCalls = append(m.ToolCalls, goopenai.ToolCall{ID: c.ID, Type: goopenai.ToolTypeFunction,
			Function: goopenai.FunctionCall{Name: c.Name, Arguments: c.Arguments}})
	}
	return m
}

// toolTurn is a tool's result as a message for the model.
func toolTurn(r chat.ToolResult) goopenai.ChatCompletionMessage {
	content := string(r.Output)
	if r.Error != "" {
		b, _ := json.Marshal(map[string]string{"error": r.Error})
		content = string(b)
	}
	return goopenai.ChatCompletionMessage{Role: goopenai.ChatMessageRoleTool, ToolCallID: r.ID, Name: r.Name, Content: content}
}

// toolDefs is the registered tools as the request offers them.
func (p *Provider) toolDefs() []goopenai.Tool {
	defs := make([]goopenai.Tool, 0, len(p.toolOrder))
	for _, name := range p.toolOrder {
		t := p.tools[name]
		params := any(json.RawMessage(`{"type":"object","properties":{}}`))
		if t.Parameters != nil {
			params = t.Parameters
		}
		defs = append(defs, goopenai.Tool{Type: goopenai.ToolTypeFunction, Function: &goopenai.FunctionDefinition{
			Name: t.Name, Description: t.Description, Parameters: params,
		}})
	}
	return defs
}
