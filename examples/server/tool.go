package main

import (
	"context"
	"encoding/json"
	"errors"
	"unicode/utf8"

	"github.com/ssechat/ssechat/chat"
)

// lengthTool is the example server's one tool: the length of a text in
// Unicode characters, which models famously count wrong. The mock calls it
// with -mock-tools; a real model is offered it.
var lengthTool = chat.Tool{
	Name:        "message_length",
	Description: "Counts the Unicode characters (code points) of a text. Use it whenever asked how long a text is.",
	Parameters:  json.RawMessage(`{"type":"object","properties":{"text":{"type":"string","description":"the text to count"}},"required":["text"]}`),
	Run: func(_ context.Context, args json.RawMessage) (any, error) {
		var a struct {
			Text *string `json:"text"`
		}
		if err := json.Unmarshal(args, &a); err != nil || a.Text == nil {
			return nil, errors.New(`want {"text":"..."}`)
		}
		return map[string]int{"characters": utf8.RuneCountInString(*a.Text)}, nil
	},
}
