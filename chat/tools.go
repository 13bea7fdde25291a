package chat

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"runtime/debug"
)

// Tool is a Go function that a provider offers the model and runs on the
// server when the model calls it (see chat/openai's WithTools): the
// provider streams the call, runs the tool, streams its result, and gives
// the result back to the model for the next step.
type Tool struct {
	// Name is how the model calls it: letters, digits, _ and -.
	Name string
	// Description tells the model what the tool does and when to use it.
	Description string
	// Parameters is the JSON Schema of the arguments (an object schema);
	// nil means no arguments.
	Parameters json.RawMessage
	// Run runs the tool with the model's arguments (JSON text, as the
	// model wrote it: check it). Its result is marshalled to JSON. Its
	// error's message goes back to the model, and to the client as the
	// tool result's error, so it must not hold secrets. Run must return
	// when ctx ends: the client stopped or left.
	Run func(ctx context.Context, args json.RawMessage) (any, error)
}

// CheckTool reports what is wrong with t, if anything.
func CheckTool(t *Tool) error {
	if t.Name == "" || len(t.Name) > 64 {
		return fmt.Errorf("chat: tool name %q: want 1 to 64 characters", t.Name)
	}
	for _, c := range t.Name {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == '-') {
			return fmt.Errorf("chat: tool name %q: only letters, digits, _ and -", t.Name)
		}
	}
	if t.Run == nil {
		return fmt.Errorf("chat: tool %q has no Run", t.Name)
	}
	if t.Parameters != nil && !json.Valid(t.Parameters) {
		return fmt.Errorf("chat: tool %q: Parameters is not valid JSON", t.Name)
	}
	return nil
}

// ErrToolPanicked is the error of a tool result when the tool panicked.
var ErrToolPanicked = errors.New("the tool failed")

// RunTool runs t for call and returns the result to stream and give back
// to the model: the output, or the error (a panic is recovered, and
// reported as [ErrToolPanicked] without its value). Arguments that are not
// valid JSON are an error the model sees, without calling Run.
func RunTool(ctx context.Context, t *Tool, call ToolCall) (res ToolResult, panicked any) {
	res = ToolResult{ID: call.ID, Name: call.Name}
	args := json.RawMessage(call.Arguments)
	if len(args) == 0 {
		args = json.RawMessage("{}")
	}
	if !json.Valid(args) {
		res.Error = "the arguments are not valid JSON"
		return res, nil
	}
	var (
		out any
		err error
	)
	func() {
		defer func() {
			if v := recover(); v != nil {
				panicked = fmt.Sprintf("%v\n%s", v, debug.Stack())
				err = ErrToolPanicked
			}
		}()
		out, err = t.Run(ctx, args)
	}()
	if err != nil {
		res.Error = err.Error()
		if res.Error == "" {
			res.Error = "the tool failed"
		}
		return res, panicked
	}
	b, err := json.Marshal(out)
	if err != nil {
		res.Error = "the tool's result could not be encoded"
		return res, nil
	}
	res.Output = b
	return res, nil
}
