// Command handwritten is the baseline that examples/load compares ssechat
// with: a chat endpoint that decodes the same request and echoes the last
// user message a few runes at a time, with the same delay as the example
// server's mock. No resume, no keep-alive, no limits. -kind chooses how it
// writes:
//
//	fprintf  fmt.Fprintf and Flush per event: what most hand-written servers do (default)
//	gosse    github.com/tmaxmax/go-sse's Session.Send and Flush per event
//	raw      no net/http: a bare TCP server that reads the request's head and
//	         body and writes each event to the socket, the floor of what any
//	         server spends
//	ssechat  the same echo as a chat.Provider, served by chat.NewHandler with
//	         its defaults (resumable streams in a memory store, event ids,
//	         write deadlines) and no middleware: the SDK in this handler's
//	         place, without the example server's keep-alive, timeouts,
//	         telemetry, logging and recovery
//
//	go run ./examples/load/handwritten -addr 127.0.0.1:8081 -mock-delay 30ms -kind fprintf
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"iter"
	"log"
	"net"
	"net/http"
	"net/textproto"
	"strconv"
	"time"

	gosse "github.com/tmaxmax/go-sse"

	"github.com/ssechat/ssechat/chat"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:8081", "listen address")
	delay := flag.Duration("mock-delay", 30*time.Millisecond, "the delay per chunk of 3 runes")
	kind := flag.String("kind", "fprintf", "how events are written: fprintf, gosse, raw or ssechat")
	flag.Parse()
	switch *kind {
	case "fprintf":
		http.HandleFunc("/chat", func(w http.ResponseWriter, r *http.Request) {
			text, ok := decode(w, r.Body)
			if !ok {
				return
			}
			w.Header().Set("Content-Type", "text/event-stream")
			w.Header().Set("Cache-Control", "no-cache")
			flusher := w.(http.Flusher)
			echo(r.Context(), text, *delay, func(name, data string) error {
				_, err := fmt.Fprintf(w, "event: %s\ndata: %s\n\n", name, data)
				flusher.Flush()
				return err
			})
		})
	case "gosse":
		http.HandleFunc("/chat", func(w http.ResponseWriter, r *http.Request) {
			text, ok := decode(w, r.Body)
			if !ok {
				return
			}
			s, err := gosse.Upgrade(w, r)
			if err != nil {
				return
			}
			echo(r.Context(), text, *delay, func(name, data string) error {
				m := &gosse.Message{Type: gosse.Type(name)}
				m.AppendData(data)
				if err := s.Send(m); err != nil {
					return err
				}
				return s.Flush()
			})
		})
	case "raw":
		log.Fatal(serveRaw(*addr, *delay))
	case "ssechat":
		http.Handle("/chat", chat.NewHandler(echoProvider(*delay)))
	default:
		log.Fatalf("-kind %q: want fprintf, gosse, raw or ssechat", *kind)
	}
	log.Fatal(http.ListenAndServe(*addr, nil))
}

// decode reads the request body and returns the last message's runes, or
// answers 400.
func decode(w http.ResponseWriter, body io.Reader) ([]rune, bool) {
	var req struct {
		Messages []struct{ Role, Content string } `json:"messages"`
	}
	if err := json.NewDecoder(body).Decode(&req); err != nil || len(req.Messages) == 0 {
		if w != nil {
			http.Error(w, "bad request", http.StatusBadRequest)
		}
		return nil, false
	}
	return []rune(req.Messages[len(req.Messages)-1].Content), true
}

// echo sends a start event, text 3 runes per delta event with delay before
// each, and a done event, stopping at the first failed send or when ctx
// ends.
func echo(ctx context.Context, text []rune, delay time.Duration, send func(name, data string) error) {
	if send("start", "{}") != nil {
		return
	}
	if !pace(ctx, text, delay, func(s string) bool {
		b, _ := json.Marshal(map[string]string{"text": s})
		return send("delta", string(b)) == nil
	}) {
		return
	}
	send("done", `{"finish_reason":"stop"}`)
}

// echoProvider is echo as a chat.Provider: the last user message, 3 runes
// per chunk with delay before each.
func echoProvider(delay time.Duration) chat.Provider {
	return chat.ProviderFunc(func(ctx context.Context, req *chat.Request) iter.Seq2[chat.Chunk, error] {
		return func(yield func(chat.Chunk, error) bool) {
			// An empty first chunk, as a real upstream's role chunk, starts
			// the stream at once, as echo's start event does.
			if !yield(chat.Chunk{}, nil) {
				return
			}
			stopped := false // yield returned false: no more calls
			text := []rune(req.Messages[len(req.Messages)-1].Content)
			if !pace(ctx, text, delay, func(s string) bool {
				stopped = !yield(chat.Chunk{Text: s}, nil)
				return !stopped
			}) {
				if !stopped {
					yield(chat.Chunk{}, ctx.Err())
				}
				return
			}
			yield(chat.Chunk{FinishReason: "stop"}, nil)
		}
	})
}

// pace calls piece with text, 3 runes at a time, delay before each. It
// reports whether all of it went: false when ctx ended first or piece
// returned false.
func pace(ctx context.Context, text []rune, delay time.Duration, piece func(string) bool) bool {
	t := time.NewTimer(delay)
	defer t.Stop()
	for len(text) > 0 {
		n := min(3, len(text))
		select {
		case <-ctx.Done():
			return false
		case <-t.C:
		}
		t.Reset(delay)
		if !piece(string(text[:n])) {
			return false
		}
		text = text[n:]
	}
	return true
}

// serveRaw answers every connection's one request over bare TCP: it reads
// the request line, the header and the body (by Content-Length), then
// writes a chunked event stream, one write per event.
func serveRaw(addr string, delay time.Duration) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	for {
		c, err := ln.Accept()
		if err != nil {
			return err
		}
		go func() {
			defer c.Close()
			br := bufio.NewReader(c)
			tp := textproto.NewReader(br)
			if _, err := tp.ReadLine(); err != nil { // POST /chat HTTP/1.1
				return
			}
			head, err := tp.ReadMIMEHeader()
			if err != nil {
				return
			}
			n, err := strconv.Atoi(head.Get("Content-Length"))
			if err != nil || n < 0 || n > 1<<20 {
				return
			}
			text, ok := decode(nil, io.LimitReader(br, int64(n)))
			if !ok {
				io.WriteString(c, "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
				return
			}
			if _, err := io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\nTransfer-Encoding: chunked\r\n\r\n"); err != nil {
				return
			}
			// A client that leaves makes the next write fail.
			echo(context.Background(), text, delay, func(name, data string) error {
				ev := "event: " + name + "\ndata: " + data + "\n\n"
				_, err := fmt.Fprintf(c, "%x\r\n%s\r\n", len(ev), ev) // one write
				return err
			})
			io.WriteString(c, "0\r\n\r\n")
		}()
	}
}
