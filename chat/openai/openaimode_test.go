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
