package chat_test

import (
	"context"
	"iter"
	"net/http/httptest"
	"testing"

	"github.com/ssechat/ssechat/chat"
)

// otherStore is a MemoryStore behind the Store interface only: the
// handler does not see a *MemoryStore, and keeps Result.Text as it goes.
type otherStore struct{ chat.Store }

// TestResultText: the finish hook's Result has all the text and reasoning
// the provider produced, in order, whether the handler reads them back
// from the memory store's log or keeps them as it goes: when the answer
// completes, and when the log refuses a chunk (the answer grew past the
// store's limit), whose text still counts.
func TestResultText(t *testing.T) {
	chunks := []chat.Chunk{
		{Reasoning: "think "}, {Reasoning: "more"}, {Text: "你好"}, {Text: ", "},
		{Reasoning: " again", Text: "world"}, {Text: "!"},
	}
	provider := chat.ProviderFunc(func(context.Context, *chat.Request) iter.Seq2[chat.Chunk, error] {
		return func(yield func(chat.Chunk, error) bool) {
			for _, c := range chunks {
				if !yield(c, nil) {
					return
				}
			}
		}
	})
	for _, tc := range []struct {
		name        string
		limit       int64 // MaxStreamBytes; 0 for the default
		end         chat.EndReason
		text, think string
	}{
		{"completed", 0, chat.EndCompleted, "你好, world!", "think more again"},
		// A log of 4 KiB takes the first chunks and refuses the one that
		// passes it; the provider stops there.
		{"refused", 4096, chat.EndInternal, "你好, world", "think more again"},
	} {
		for _, store := range []struct {
			name string
			new  func(limit int64) chat.Store
		}{
			{"memory", func(limit int64) chat.Store {
				return chat.NewMemoryStore(chat.MemoryStoreOptions{MaxStreamBytes: limit})
			}},
			{"other", func(limit int64) chat.Store {
				return otherStore{chat.NewMemoryStore(chat.MemoryStoreOptions{MaxStreamBytes: limit})}
			}},
		} {
			t.Run(tc.name+"/"+store.name, func(t *testing.T) {
				p := provider
				if tc.limit > 0 {
					// Big enough chunks that the fifth passes the limit.
					p = chat.ProviderFunc(func(ctx context.Context, req *chat.Request) iter.Seq2[chat.Chunk, error] {
						return func(yield func(chat.Chunk, error) bool) {
							for i, c := range chunks {
								if i == 5 {
									c.Text += string(make([]byte, 8192))
								}
								if !yield(c, nil) {
									return
								}
							}
						}
					})
				}
				results := make(chan *chat.Result, 1)
				h := chat.NewHandler(p, chat.WithStore(store.new(tc.limit)),
					chat.WithFinish(func(_ context.Context, res *chat.Result) { results <- res }))
				srv := httptest.NewServer(h)
				defer srv.Close()
				post(t, srv, "", map[string]any{"messages": []map[string]string{{"role": "user", "content": "hi"}}})
				res := <-results
				text := tc.text
				if tc.limit > 0 {
					text += "!" + string(make([]byte, 8192)) // refused, but produced
				}
				if res.End != tc.end || res.Text != text || res.Reasoning != tc.think {
					t.Fatalf("end %s, text %q (%d bytes), reasoning %q; want %s, %q, %q",
						res.End, trim(res.Text), len(res.Text), res.Reasoning, tc.end, trim(text), tc.think)
				}
			})
		}
	}
}

func trim(s string) string { return s[:min(len(s), 40)] }
