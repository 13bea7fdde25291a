package chat_test

import (
	"context"
	"fmt"
	"iter"
	"net/http/httptest"
	"strings"

	"github.com/ssechat/ssechat/chat"
	"github.com/ssechat/ssechat/chat/chattest"
)

// Mount a Handler with a Provider and read what a client receives.
func Example() {
	provider := &chattest.Provider{Tokens: []string{"Hello", ", ", "世界"}}
	srv := httptest.NewServer(chat.NewHandler(provider))
	defer srv.Close()

	s, err := chattest.Post(srv.Client(), srv.URL, chattest.UserMessage("hi"))
	if err != nil {
		panic(err)
	}
	for _, ev := range s.Events[1:] { // the start event carries a random stream id
		fmt.Println(ev.Name, ev.Data)
	}
	fmt.Println("text:", s.Text)
	// Output:
	// delta {"text":"Hello"}
	// delta {"text":", "}
	// delta {"text":"世界"}
	// done {"finish_reason":"stop"}
	// text: Hello, 世界
}

// A Provider is one function that yields chunks and stops when its context
// is cancelled or the consumer stops.
func ExampleProviderFunc() {
	shout := chat.ProviderFunc(func(ctx context.Context, req *chat.Request) iter.Seq2[chat.Chunk, error] {
		return func(yield func(chat.Chunk, error) bool) {
			last := req.Messages[len(req.Messages)-1].Content
			for _, word := range strings.Fields(last) {
				if ctx.Err() != nil {
					yield(chat.Chunk{}, ctx.Err())
					return
				}
				if !yield(chat.Chunk{Text: strings.ToUpper(word) + " "}, nil) {
					return
				}
			}
			yield(chat.Chunk{FinishReason: "stop"}, nil)
		}
	})
	srv := httptest.NewServer(chat.NewHandler(shout, chat.WithMode(chat.ModeSnapshot)))
	defer srv.Close()

	s, _ := chattest.Post(srv.Client(), srv.URL, chattest.UserMessage("make it loud"))
	for _, ev := range s.Events[1:] {
		fmt.Println(ev.Name, ev.Data)
	}
	// Output:
	// snapshot {"text":"MAKE "}
	// snapshot {"text":"MAKE IT "}
	// snapshot {"text":"MAKE IT LOUD "}
	// done {"finish_reason":"stop"}
}
