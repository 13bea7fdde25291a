package openai_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	openaigo "github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	goopenai "github.com/sashabaranov/go-openai"

	"github.com/ssechat/ssechat/chat"
	"github.com/ssechat/ssechat/chat/chattest"
)

// TestOpenAIModeReadByGoOpenAI points the go-openai client at a Handler in
// openai mode: an OpenAI client library reads the stream as it is.
func TestOpenAIModeReadByGoOpenAI(t *testing.T) {
	usage := &chat.Usage{InputTokens: 4, OutputTokens: 3, TotalTokens: 7}
	mux := http.NewServeMux()
	mux.Handle("/ok/chat/completions", chat.NewHandler(
		&chattest.Provider{Tokens: []string{"Hel", "lo ", "世界"}, Usage: usage}, chat.WithMode(chat.ModeOpenAI)))
	mux.Handle("/fail/chat/completions", chat.NewHandler(
		&chattest.Provider{Tokens: []string{"Hel", "lo"}, ErrAt: 1, Err: &chat.Error{Code: chat.CodeUpstreamUnavailable}},
		chat.WithMode(chat.ModeOpenAI)))
	// Rotation is for clients that resume; OpenAI's libraries do not, so
	// an openai-mode stream is never rotated, however long it runs.
	mux.Handle("/rotating/chat/completions", chat.NewHandler(
		&chattest.Provider{Tokens: strings.Split("a long answer that outlasts many rotations", " "), Delay: 5 * time.Millisecond, Usage: usage},
		chat.WithMode(chat.ModeOpenAI), chat.WithMaxResponse(time.Millisecond)))
	srv := httptest.NewServer(mux)
	defer srv.Close()

	read := func(path string) (string, goopenai.FinishReason, *goopenai.Usage, error) {
		cfg := goopenai.DefaultConfig("unused")
		cfg.BaseURL = srv.URL + path
		stream, err := goopenai.NewClientWithConfig(cfg).CreateChatCompletionStream(context.Background(), goopenai.ChatCompletionRequest{
			Model:         "m",
			Messages:      []goopenai.ChatCompletionMessage{{Role: "user", Content: "hi"}},
			StreamOptions: &goopenai.StreamOptions{IncludeUsage: true},
		})
		if err != nil {
			return "", "", nil, err
		}
		defer stream.Close()
		var text strings.Builder
		var finish goopenai.FinishReason
		var u *goopenai.Usage
		for {
			resp, err := stream.Recv()
			if errors.Is(err, io.EOF) {
				return text.String(), finish, u, nil
			}
			if err != nil {
				return text.String(), finish, u, err
			}
			for _, c := range resp.Choices {
				text.WriteString(c.Delta.Content)
				if c.FinishReason != "" {
					finish = c.FinishReason
				}
			}
			if resp.Usage != nil {
				u = resp.Usage
			}
		}
	}

	text, finish, u, err := read("/ok")
	if err != nil || text != "Hello 世界" || finish != goopenai.FinishReasonStop || u == nil ||
		u.PromptTokens != 4 || u.CompletionTokens != 3 || u.TotalTokens != 7 {
		t.Fatalf("text %q finish %q usage %+v err %v", text, finish, u, err)
	}
	text, finish, _, err = read("/rotating")
	if err != nil || text != "alonganswerthatoutlastsmanyrotations" || finish != goopenai.FinishReasonStop {
		t.Fatalf("rotating handler: text %q finish %q err %v", text, finish, err)
	}
	// A failed stream is an error to go-openai, never a short success. (It
	// cannot show the error object's message: it collects every non-data
	// line, our id lines included, into the buffer it parses the error from.)
	text, _, _, err = read("/fail")
	if err == nil || text != "Hel" {
		t.Fatalf("text %q err %v", text, err)
	}
}

// TestOpenAIModeReadByOpenAIGo reads an answer with reasoning and two
// parallel tool calls from an openai-mode handler with the official
// openai-go client and its ChatCompletionAccumulator: the content, each
// call's id, name and arguments exact, reasoning_content in the delta's
// extra fields.
func TestOpenAIModeReadByOpenAIGo(t *testing.T) {
	script := []chat.Chunk{
		{Reasoning: "想一想："}, {Reasoning: "two tools 🛠"},
		{ToolCalls: []chat.ToolCall{{ID: "call_a", Name: "weather", ArgumentsDelta: `{"city":"北`}}},
		{ToolCalls: []chat.ToolCall{{ID: "call_b", Name: "clock", ArgumentsDelta: `{}`}, {ID: "call_a", ArgumentsDelta: `京"}`}}},
		{Text: "Checking."},
		{FinishReason: "tool_calls", Usage: &chat.Usage{InputTokens: 3, OutputTokens: 9, TotalTokens: 12, ReasoningTokens: 4}},
	}
	srv := httptest.NewServer(chat.NewHandler(&chattest.Provider{Chunks: script}, chat.WithMode(chat.ModeOpenAI)))
	defer srv.Close()
	client := openaigo.NewClient(option.WithBaseURL(srv.URL+"/v1/"), option.WithAPIKey("unused"), option.WithMaxRetries(0))
	stream := client.Chat.Completions.NewStreaming(context.Background(), openaigo.ChatCompletionNewParams{
		Model:         "m",
		Messages:      []openaigo.ChatCompletionMessageParamUnion{openaigo.UserMessage("hi")},
		StreamOptions: openaigo.ChatCompletionStreamOptionsParam{IncludeUsage: openaigo.Bool(true)},
	})
	acc := openaigo.ChatCompletionAccumulator{}
	var reasoning strings.Builder
	var finished []string
	for stream.Next() {
		chunk := stream.Current()
		if !acc.AddChunk(chunk) {
			t.Fatalf("the accumulator refused chunk %s", chunk.RawJSON())
		}
		for _, c := range chunk.Choices {
			if f, ok := c.Delta.JSON.ExtraFields["reasoning_content"]; ok {
				var s string
				if err := json.Unmarshal([]byte(f.Raw()), &s); err != nil {
					t.Fatal(err)
				}
				reasoning.WriteString(s)
			}
		}
		if tc, ok := acc.JustFinishedToolCall(); ok {
			finished = append(finished, tc.Name)
		}
	}
	if err := stream.Err(); err != nil {
		t.Fatal(err)
	}
	if len(acc.Choices) != 1 {
		t.Fatalf("%d choices", len(acc.Choices))
	}
	msg := acc.Choices[0].Message
	if reasoning.String() != "想一想：two tools 🛠" || msg.Content != "Checking." || acc.Choices[0].FinishReason != "tool_calls" {
		t.Fatalf("reasoning %q content %q finish %q", reasoning.String(), msg.Content, acc.Choices[0].FinishReason)
	}
	want := [][3]string{{"call_a", "weather", `{"city":"北京"}`}, {"call_b", "clock", `{}`}}
	if len(msg.ToolCalls) != len(want) {
		t.Fatalf("tool calls %+v", msg.ToolCalls)
	}
	for i, w := range want {
		c := msg.ToolCalls[i]
		if c.ID != w[0] || c.Function.Name != w[1] || c.Function.Arguments != w[2] {
			t.Fatalf("tool call %d: %s %s %s", i, c.ID, c.Function.Name, c.Function.Arguments)
		}
	}
	if acc.Usage.CompletionTokensDetails.ReasoningTokens != 4 || acc.Usage.TotalTokens != 12 {
		t.Fatalf("usage %+v", acc.Usage)
	}
	t.Logf("calls the accumulator saw finish: %v", finished)
}
