package openai_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	openaigo "github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	"github.com/openai/openai-go/v3/shared"
	goopenai "github.com/sashabaranov/go-openai"

	"github.com/ssechat/ssechat/chat"
	"github.com/ssechat/ssechat/chat/chattest"
	"github.com/ssechat/ssechat/chat/openai"
	"github.com/ssechat/ssechat/internal/fakeopenai"
)

// v1 mounts OpenAI's API (chat.MountOpenAI) over a provider that talks to
// the fake upstream, and returns its base URL, the fake, and the finish
// hook's results. A request with the header "Authorization: Bearer wrong"
// is refused by the prepare hook with 401.
func v1(t *testing.T, popts ...openai.Option) (string, *fakeopenai.Server, chan *chat.Result) {
	t.Helper()
	fake := &fakeopenai.Server{}
	up := httptest.NewServer(fake)
	t.Cleanup(up.Close)
	cfg := goopenai.DefaultConfig(apiKey)
	cfg.BaseURL = up.URL + "/v1"
	results := make(chan *chat.Result, 16)
	mux := http.NewServeMux()
	chat.MountOpenAI(mux, "/v1", openai.New(cfg, append([]openai.Option{openai.WithModel("fake-model")}, popts...)...), []string{"fake-model", "fake-reasoner"},
		chat.WithRequestTools(true),
		chat.WithPrepare(func(r *http.Request, req *chat.Request) error {
			if r.Header.Get("Authorization") == "Bearer wrong" {
				return chat.NewError(chat.CodeUnauthenticated, "a valid API key is required")
			}
			return nil
		}),
		chat.WithFinish(func(_ context.Context, r *chat.Result) { results <- r }))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv.URL + "/v1", fake, results
}

func goClient(base, key string) *goopenai.Client {
	cfg := goopenai.DefaultConfig(key)
	cfg.BaseURL = base
	return goopenai.NewClientWithConfig(cfg)
}

func goClientV3(base, key string) *openaigo.Client {
	c := openaigo.NewClient(option.WithBaseURL(base+"/"), option.WithAPIKey(key), option.WithMaxRetries(0))
	return &c
}

// TestV1NotStreaming: a request without stream gets one chat.completion
// object, read by go-openai and openai-go: text, reasoning_content, usage;
// the finish hook runs for it as for a stream.
func TestV1NotStreaming(t *testing.T) {
	base, _, results := v1(t)
	const text = "你好, world! 👩‍💻"
	ctx := context.Background()

	resp, err := goClient(base, "k").CreateChatCompletion(ctx, goopenai.ChatCompletionRequest{
		Model: "fake-model", Messages: []goopenai.ChatCompletionMessage{{Role: "user", Content: fakeopenai.ScriptReason + text}},
	})
	if err != nil {
		t.Fatal(err)
	}
	m := resp.Choices[0].Message
	if resp.Object != "chat.completion" || m.Content != text || m.ReasoningContent != fakeopenai.Reasoning(text) ||
		resp.Choices[0].FinishReason != goopenai.FinishReasonStop || resp.Usage.TotalTokens != 31 || resp.Usage.CompletionTokensDetails.ReasoningTokens != 7 {
		t.Fatalf("go-openai: %+v", resp)
	}
	if r := <-results; r.Text != text || r.End != chat.EndCompleted {
		t.Fatalf("finish hook: %+v", r)
	}

	c, err := goClientV3(base, "k").Chat.Completions.New(ctx, openaigo.ChatCompletionNewParams{
		Model: "fake-model", Messages: []openaigo.ChatCompletionMessageParamUnion{openaigo.UserMessage(fakeopenai.ScriptReason + text)},
	})
	if err != nil {
		t.Fatal(err)
	}
	<-results
	reasoning := c.Choices[0].Message.JSON.ExtraFields["reasoning_content"].Raw()
	if c.Choices[0].Message.Content != text || reasoning != `"`+fakeopenai.Reasoning(text)+`"` || c.Usage.CompletionTokensDetails.ReasoningTokens != 7 {
		t.Fatalf("openai-go: content %q reasoning %s usage %+v", c.Choices[0].Message.Content, reasoning, c.Usage)
	}
}

// TestV1ToolsTwoTurns: a client's own tools, across two turns, streaming
// and not, with both clients: the model calls two tools, the client sends
// the assistant message with its tool_calls and a tool message per call,
// and the model answers from the results.
func TestV1ToolsTwoTurns(t *testing.T) {
	base, fake, results := v1(t)
	ctx := context.Background()
	tools := []goopenai.Tool{
		{Type: goopenai.ToolTypeFunction, Function: &goopenai.FunctionDefinition{Name: "weather", Parameters: map[string]any{"type": "object"}}},
		{Type: goopenai.ToolTypeFunction, Function: &goopenai.FunctionDefinition{Name: "clock", Parameters: map[string]any{"type": "object"}}},
	}
	const want = `Results: {"temp":21}; 12:00`
	for _, stream := range []bool{false, true} {
		client := goClient(base, "k")
		msgs := []goopenai.ChatCompletionMessage{{Role: "user", Content: fakeopenai.ScriptTools}}
		turn := func() (string, []goopenai.ToolCall, goopenai.FinishReason) {
			req := goopenai.ChatCompletionRequest{Model: "fake-model", Messages: msgs, Tools: tools}
			defer func() { <-results }()
			if !stream {
				resp, err := client.CreateChatCompletion(ctx, req)
				if err != nil {
					t.Fatal(err)
				}
				return resp.Choices[0].Message.Content, resp.Choices[0].Message.ToolCalls, resp.Choices[0].FinishReason
			}
			s, err := client.CreateChatCompletionStream(ctx, req)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			var text strings.Builder
			var calls []goopenai.ToolCall
			var finish goopenai.FinishReason
			for {
				r, err := s.Recv()
				if errors.Is(err, io.EOF) {
					return text.String(), calls, finish
				}
				if err != nil {
					t.Fatal(err)
				}
				for _, c := range r.Choices {
					text.WriteString(c.Delta.Content)
					for _, tc := range c.Delta.ToolCalls {
						for len(calls) <= *tc.Index {
							calls = append(calls, goopenai.ToolCall{Type: goopenai.ToolTypeFunction})
						}
						calls[*tc.Index].ID += tc.ID
						calls[*tc.Index].Function.Name += tc.Function.Name
						calls[*tc.Index].Function.Arguments += tc.Function.Arguments
					}
					if c.FinishReason != "" {
						finish = c.FinishReason
					}
				}
			}
		}
		_, calls, finish := turn()
		if finish != goopenai.FinishReasonToolCalls || len(calls) != 2 || calls[0].Function.Arguments != `{"city":"北京"}` || calls[1].ID != "call_clock" {
			t.Fatalf("stream=%v turn 1: finish %q calls %+v", stream, finish, calls)
		}
		msgs = append(msgs, goopenai.ChatCompletionMessage{Role: "assistant", ToolCalls: calls},
			goopenai.ChatCompletionMessage{Role: "tool", ToolCallID: calls[0].ID, Content: `{"temp":21}`},
			goopenai.ChatCompletionMessage{Role: "tool", ToolCallID: calls[1].ID, Content: "12:00"})
		text, _, finish := turn()
		if text != want || finish != goopenai.FinishReasonStop {
			t.Fatalf("stream=%v turn 2: %q %q", stream, text, finish)
		}
	}
	// The upstream got the tools, and in the second turn the calls and results.
	reqs := fake.Requests()
	last := reqs[len(reqs)-1].Body
	msgs, _ := last["messages"].([]any)
	assistant, _ := msgs[1].(map[string]any)
	tool, _ := msgs[2].(map[string]any)
	if calls, _ := assistant["tool_calls"].([]any); len(calls) != 2 || tool["role"] != "tool" || tool["tool_call_id"] != "call_weather" {
		t.Fatalf("second turn upstream messages: %v", msgs)
	}

	// openai-go: the same two turns, without streaming.
	client := goClientV3(base, "k")
	params := openaigo.ChatCompletionNewParams{
		Model:    "fake-model",
		Messages: []openaigo.ChatCompletionMessageParamUnion{openaigo.UserMessage(fakeopenai.ScriptTools)},
		Tools: []openaigo.ChatCompletionToolUnionParam{
			openaigo.ChatCompletionFunctionTool(shared.FunctionDefinitionParam{Name: "weather"}),
			openaigo.ChatCompletionFunctionTool(shared.FunctionDefinitionParam{Name: "clock"}),
		},
	}
	c, err := client.Chat.Completions.New(ctx, params)
	if err != nil {
		t.Fatal(err)
	}
	<-results
	if c.Choices[0].FinishReason != "tool_calls" || len(c.Choices[0].Message.ToolCalls) != 2 {
		t.Fatalf("openai-go turn 1: %+v", c.Choices[0])
	}
	params.Messages = append(params.Messages, c.Choices[0].Message.ToParam(),
		openaigo.ToolMessage(`{"temp":21}`, c.Choices[0].Message.ToolCalls[0].ID),
		openaigo.ToolMessage("12:00", c.Choices[0].Message.ToolCalls[1].ID))
	c, err = client.Chat.Completions.New(ctx, params)
	if err != nil {
		t.Fatal(err)
	}
	<-results
	if c.Choices[0].Message.Content != want {
		t.Fatalf("openai-go turn 2: %q", c.Choices[0].Message.Content)
	}
}

// TestV1Errors: errors in OpenAI's shape, as the clients' typed errors:
// 401 from the prepare hook, 429 from the upstream, 422 for what is not
// supported (with its param), and a mid-stream upstream failure, streaming
// (an error, never a short success) and not (a 5xx).
func TestV1Errors(t *testing.T) {
	base, _, _ := v1(t)
	ctx := context.Background()
	for _, c := range []struct {
		name, key, msg string
		n              int
		status         int
		typ, code      string
		param          string
	}{
		{"401", "wrong", "hi", 1, 401, "authentication_error", "unauthenticated", ""},
		{"429", "k", fakeopenai.ScriptStatus + "429", 1, 429, "rate_limit_error", "rate_limited", ""},
		{"422", "k", "hi", 2, 422, "invalid_request_error", "invalid_request", "n"},
		{"mid-stream", "k", fakeopenai.ScriptMidError, 1, 503, "service_unavailable_error", "upstream_unavailable", ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := goClient(base, c.key).CreateChatCompletion(ctx, goopenai.ChatCompletionRequest{
				Model: "fake-model", N: c.n, Messages: []goopenai.ChatCompletionMessage{{Role: "user", Content: c.msg}},
			})
			var apiErr *goopenai.APIError
			if !errors.As(err, &apiErr) || apiErr.HTTPStatusCode != c.status || apiErr.Type != c.typ || apiErr.Code != c.code ||
				c.param != "" && (apiErr.Param == nil || *apiErr.Param != c.param) || strings.Contains(apiErr.Message, apiKey) {
				t.Fatalf("go-openai: %#v", err)
			}
			_, err = goClientV3(base, c.key).Chat.Completions.New(ctx, openaigo.ChatCompletionNewParams{
				Model: "fake-model", N: openaigo.Int(int64(c.n)), Messages: []openaigo.ChatCompletionMessageParamUnion{openaigo.UserMessage(c.msg)},
			})
			var v3Err *openaigo.Error
			if !errors.As(err, &v3Err) || v3Err.StatusCode != c.status || v3Err.Type != c.typ || v3Err.Code != c.code || v3Err.Param != c.param {
				t.Fatalf("openai-go: %v", err)
			}
			// Streaming: the same error before the stream; a mid-stream
			// failure is an error to the client, never a short success.
			s, err := goClient(base, c.key).CreateChatCompletionStream(ctx, goopenai.ChatCompletionRequest{
				Model: "fake-model", N: c.n, Messages: []goopenai.ChatCompletionMessage{{Role: "user", Content: c.msg}},
			})
			if c.name != "mid-stream" {
				if !errors.As(err, &apiErr) || apiErr.HTTPStatusCode != c.status {
					t.Fatalf("go-openai stream: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			for {
				_, err := s.Recv()
				if errors.Is(err, io.EOF) {
					t.Fatal("a failed stream read as a success")
				}
				if err != nil {
					break
				}
			}
			v3 := goClientV3(base, c.key).Chat.Completions.NewStreaming(ctx, openaigo.ChatCompletionNewParams{
				Model: "fake-model", Messages: []openaigo.ChatCompletionMessageParamUnion{openaigo.UserMessage(c.msg)},
			})
			for v3.Next() {
			}
			if v3.Err() == nil {
				t.Fatal("openai-go: a failed stream read as a success")
			}
		})
	}
}

// TestV1Abort: a client that cancels its stream ends the upstream request.
func TestV1Abort(t *testing.T) {
	base, fake, results := v1(t)
	ctx, cancel := context.WithCancel(context.Background())
	s, err := goClient(base, "k").CreateChatCompletionStream(ctx, goopenai.ChatCompletionRequest{
		Model: "fake-model", Messages: []goopenai.ChatCompletionMessage{{Role: "user", Content: fakeopenai.ScriptSlow}},
	})
	if err != nil {
		t.Fatal(err)
	}
	for {
		r, err := s.Recv()
		if err != nil {
			t.Fatal(err)
		}
		if len(r.Choices) > 0 && r.Choices[0].Delta.Content != "" {
			break
		}
	}
	cancel()
	s.Close()
	select {
	case <-fake.Ended():
	case <-time.After(10 * time.Second):
		t.Fatal("the upstream request went on after the client aborted")
	}
	if r := <-results; r.End != chat.EndClientGone {
		t.Fatalf("end %s", r.End)
	}
}

// TestV1Models: GET /v1/models lists the models, for both clients.
func TestV1Models(t *testing.T) {
	base, _, _ := v1(t)
	list, err := goClient(base, "k").ListModels(context.Background())
	if err != nil || len(list.Models) != 2 || list.Models[0].ID != "fake-model" || list.Models[1].ID != "fake-reasoner" {
		t.Fatalf("go-openai: %+v %v", list, err)
	}
	page, err := goClientV3(base, "k").Models.List(context.Background())
	if err != nil || len(page.Data) != 2 || page.Data[1].ID != "fake-reasoner" {
		t.Fatalf("openai-go: %+v %v", page, err)
	}
}

// TestV1RequestShapes: OpenAI's request shapes reach the upstream as they
// mean: content parts with an image (the provider takes images), the
// developer role (as system), stop as a string, max_completion_tokens,
// reasoning_effort; what cannot be honoured is refused, never dropped.
func TestV1RequestShapes(t *testing.T) {
	base, fake, results := v1(t)
	post := func(body string) (int, string) {
		resp, err := http.Post(base+"/chat/completions", "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return resp.StatusCode, string(b)
	}
	status, body := post(`{"model":"fake-model","messages":[
		{"role":"developer","content":"Be brief."},
		{"role":"user","content":[{"type":"text","text":"What is "},{"type":"image_url","image_url":{"url":"data:image/png;base64,iVBORw0KGgo=","detail":"low"}},{"type":"text","text":"this?"}]}],
		"stop":"END","max_completion_tokens":77,"reasoning_effort":"low"}`)
	<-results
	if status != 200 || !strings.Contains(body, `"object":"chat.completion"`) {
		t.Fatalf("%d %s", status, body)
	}
	got := fake.Requests()[0].Body
	msgs, _ := got["messages"].([]any)
	dev, _ := msgs[0].(map[string]any)
	user, _ := msgs[1].(map[string]any)
	parts, _ := user["content"].([]any)
	img, _ := parts[1].(map[string]any)
	stop, _ := got["stop"].([]any)
	if dev["role"] != "system" || len(parts) != 3 || img["type"] != "image_url" || len(stop) != 1 || stop[0] != "END" ||
		got["max_completion_tokens"] != float64(77) || got["reasoning_effort"] != "low" {
		t.Fatalf("upstream got %v", got)
	}
	for _, c := range []struct{ body, param string }{
		{`{"messages":[{"role":"user","content":"hi"}],"n":3}`, "n"},
		{`{"messages":[{"role":"user","content":"hi"}],"logprobs":true}`, "logprobs"},
		{`{"messages":[{"role":"user","content":"hi"}],"modalities":["text","audio"],"audio":{"voice":"alloy"}}`, "audio"},
		{`{"messages":[{"role":"user","content":"hi"}],"functions":[{"name":"f"}]}`, "functions"},
		{`{"messages":[{"role":"tool","content":"42"}]}`, "messages[0].tool_call_id"},
		{`{"messages":[{"role":"user","content":[{"type":"input_audio","input_audio":{}}]}]}`, "messages[0].content[0].type"},
	} {
		status, body := post(c.body)
		if status != 422 || !strings.Contains(body, `"param":"`+c.param+`"`) || !strings.Contains(body, `"type":"invalid_request_error"`) {
			t.Errorf("%s: %d %s", c.body, status, body)
		}
	}
}

// TestImagesNeedAProviderThatTakesThem: a provider that does not say it
// takes images gets no request with one: 422, before anything starts.
func TestImagesNeedAProviderThatTakesThem(t *testing.T) {
	p := &chattest.Provider{Tokens: []string{"x"}}
	srv := httptest.NewServer(chat.NewHandler(p))
	defer srv.Close()
	s, err := chattest.Post(srv.Client(), srv.URL, `{"messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"https://example.com/a.png"}}]}]}`)
	if err != nil {
		t.Fatal(err)
	}
	if s.Status != 422 || !strings.Contains(s.Error.Message, "images") || p.Calls() != 0 {
		t.Fatalf("%d %+v, %d calls", s.Status, s.Error, p.Calls())
	}
}
