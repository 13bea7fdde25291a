package openai_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"

	goopenai "github.com/sashabaranov/go-openai"

	"github.com/ssechat/ssechat/chat"
	"github.com/ssechat/ssechat/chat/chattest"
	"github.com/ssechat/ssechat/chat/openai"
)

// Serve a chat stream from an OpenAI-compatible endpoint. Here the endpoint is
// a few lines that speak OpenAI's streaming format; in production BaseURL
// names the vendor.
func ExampleNew() {
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		for _, chunk := range []string{
			`{"id":"c1","object":"chat.completion.chunk","model":"gpt-4o-mini","choices":[{"index":0,"delta":{"role":"assistant","content":"Hello "},"finish_reason":null}]}`,
			`{"id":"c1","object":"chat.completion.chunk","model":"gpt-4o-mini","choices":[{"index":0,"delta":{"content":"from upstream"},"finish_reason":"stop"}]}`,
			`{"id":"c1","object":"chat.completion.chunk","model":"gpt-4o-mini","choices":[],"usage":{"prompt_tokens":9,"completion_tokens":3,"total_tokens":12}}`,
			`[DONE]`,
		} {
			io.WriteString(w, "data: "+chunk+"\n\n")
		}
	}))
	defer upstream.Close()

	cfg := goopenai.DefaultConfig("sk-...")
	cfg.BaseURL = upstream.URL + "/v1"
	srv := httptest.NewServer(chat.NewHandler(openai.New(cfg, openai.WithModel("gpt-4o-mini"))))
	defer srv.Close()

	s, err := chattest.Post(srv.Client(), srv.URL, chattest.UserMessage("Hi"))
	if err != nil {
		panic(err)
	}
	fmt.Println(s.Text)
	fmt.Println(s.Done.FinishReason, s.Done.Usage.TotalTokens)
	// Output:
	// Hello from upstream
	// stop 12
}
