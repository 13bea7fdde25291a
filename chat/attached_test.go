package chat_test

import (
	"bufio"
	"context"
	"fmt"
	"iter"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/ssechat/ssechat/chat"
	"github.com/ssechat/ssechat/chat/chattest"
)

// TestStuckClientDetaches: with a detach grace the generation writes to
// the connection that started it, so a client that stops reading (an app
// in the background, its connection frozen) holds it up; for one write
// timeout at most: then the connection counts as gone, the generation
// goes on to its end in the log, and a resume gets all of it.
func TestStuckClientDetaches(t *testing.T) {
	const pieces, size = 4000, 1024 // far more than the sockets' buffers hold
	piece := strings.Repeat("x", size)
	p := chat.ProviderFunc(func(ctx context.Context, _ *chat.Request) iter.Seq2[chat.Chunk, error] {
		return func(yield func(chat.Chunk, error) bool) {
			for range pieces {
				if !yield(chat.Chunk{Text: piece}, nil) {
					return
				}
			}
		}
	})
	results := make(chan *chat.Result, 1)
	h := chat.NewHandler(p, chat.WithDetach(time.Minute), chat.WithWriteTimeout(200*time.Millisecond),
		chat.WithStore(chat.NewMemoryStore(chat.MemoryStoreOptions{MaxStreamBytes: 64 << 20})),
		chat.WithFinish(func(_ context.Context, res *chat.Result) { results <- res }))
	srv := httptest.NewServer(h)
	defer srv.Close()

	// A client that reads the head and the first event, then nothing.
	c, err := net.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.(*net.TCPConn).SetReadBuffer(4096)
	body := `{"messages":[{"role":"user","content":"hi"}]}`
	fmt.Fprintf(c, "POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s", len(body), body)
	br := bufio.NewReaderSize(c, 512)
	var id string
	for id == "" {
		line, err := br.ReadString('\n')
		if err != nil {
			t.Fatal(err)
		}
		if v, ok := strings.CutPrefix(line, "id: "); ok {
			id, _, _ = strings.Cut(strings.TrimSpace(v), ".")
		}
	}

	select {
	case res := <-results:
		if res.End != chat.EndCompleted || len(res.Text) != pieces*size {
			t.Fatalf("the generation: %s, %d bytes of text", res.End, len(res.Text))
		}
	case <-time.After(30 * time.Second): // a guard: it takes about the write timeout
		t.Fatal("the generation is held up by a client that does not read")
	}
	s, err := chattest.Resume(srv.Client(), srv.URL, id)
	if err != nil {
		t.Fatal(err)
	}
	if s.Status != http.StatusOK || len(s.Text) != pieces*size || s.Done == nil {
		t.Fatalf("the resume: status %d, %d bytes of text, done %v", s.Status, len(s.Text), s.Done != nil)
	}
}
