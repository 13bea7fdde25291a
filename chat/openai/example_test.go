package openai_test

import (
	"fmt"
	"net/http/httptest"

	goopenai "github.com/sashabaranov/go-openai"

	"github.com/ssechat/ssechat/chat"
	"github.com/ssechat/ssechat/chat/chattest"
	"github.com/ssechat/ssechat/chat/openai"
	"github.com/ssechat/ssechat/internal/fakeopenai"
)

// Serve a chat stream from an OpenAI-compatible endpoint. Here the endpoint is
// a local stand-in that echoes; in production BaseURL names the vendor.
func ExampleNew() {
	upstream := httptest.NewServer(&fakeopenai.Server{})
	defer upstream.Close()

	cfg := goopenai.DefaultConfig("sk-...")
	cfg.BaseURL = upstream.URL + "/v1"
	srv := httptest.NewServer(chat.NewHandler(openai.New(cfg, openai.WithModel("gpt-4o-mini"))))
	defer srv.Close()

	s, err := chattest.Post(srv.Client(), srv.URL, chattest.UserMessage("Hello from upstream"))
	if err != nil {
		panic(err)
	}
	fmt.Println(s.Text)
	fmt.Println(s.Done.FinishReason, s.Done.Usage.TotalTokens)
	// Output:
	// Hello from upstream
	// stop 16
}
