// Command handwritten is a hand-written SSE chat handler, the baseline that
// examples/load compares ssechat with: it decodes the same request, echoes
// the last user message a few runes at a time with the same delay as the
// example server's mock, and writes each piece with fmt.Fprintf and Flush.
// No resume, no keep-alive, no limits: what most hand-written servers do.
//
//	go run ./examples/load/handwritten -addr 127.0.0.1:8081 -mock-delay 30ms
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"net/http"
	"time"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:8081", "listen address")
	delay := flag.Duration("mock-delay", 30*time.Millisecond, "the delay per chunk of 3 runes")
	flag.Parse()
	http.HandleFunc("/chat", func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			Messages []struct{ Role, Content string } `json:"messages"`
		}
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil || len(req.Messages) == 0 {
			http.Error(w, "bad request", http.StatusBadRequest)
			return
		}
		text := []rune(req.Messages[len(req.Messages)-1].Content)
		w.Header().Set("Content-Type", "text/event-stream")
		w.Header().Set("Cache-Control", "no-cache")
		flusher := w.(http.Flusher)
		fmt.Fprintf(w, "event: start\ndata: {}\n\n")
		flusher.Flush()
		t := time.NewTimer(*delay)
		defer t.Stop()
		for len(text) > 0 {
			n := min(3, len(text))
			select {
			case <-r.Context().Done():
				return
			case <-t.C:
			}
			t.Reset(*delay)
			b, _ := json.Marshal(map[string]string{"text": string(text[:n])})
			fmt.Fprintf(w, "event: delta\ndata: %s\n\n", b)
			flusher.Flush()
			text = text[n:]
		}
		fmt.Fprintf(w, "event: done\ndata: {\"finish_reason\":\"stop\"}\n\n")
		flusher.Flush()
	})
	log.Fatal(http.ListenAndServe(*addr, nil))
}
