package main

import (
	"bufio"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/ssechat/ssechat/chat"
	"github.com/ssechat/ssechat/chat/chattest"
)

// TestShutdownEndsEveryStream stops the server (as SIGTERM does) while 200
// streams run, half of them detached (their clients left): after the drain
// each one still connected gets a retryable terminal error event, every
// stream's finish hook runs (one "stream end" line each), and nothing is
// left running (the package's goleak check).
func TestShutdownEndsEveryStream(t *testing.T) {
	const streams = 200
	url, logs, stop := start(t, []string{"-mock-delay", "20ms", "-detach", "1m", "-drain", "100ms"}, nil)
	long := strings.Repeat("一个不会在关机前说完的回答。", 60) // 840 runes: 280 chunks, 5.6 s
	body := `{"messages":[{"role":"user","content":"` + long + `"}]}`
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: streams}}
	defer client.CloseIdleConnections()

	var (
		started sync.WaitGroup
		ended   sync.WaitGroup
		mu      sync.Mutex
		results []*chattest.Stream
	)
	for i := range streams {
		started.Add(1)
		ended.Add(1)
		go func() {
			defer ended.Done()
			resp, err := client.Post(url, "application/json", strings.NewReader(body))
			if err != nil {
				started.Done()
				t.Error(err)
				return
			}
			// Wait for the first delta, so that the generation runs.
			br := bufio.NewReader(resp.Body)
			var head strings.Builder
			for !strings.Contains(head.String(), "event: delta\n") {
				line, err := br.ReadString('\n')
				if err != nil {
					started.Done()
					t.Errorf("stream %d ended before its first delta: %v", i, err)
					resp.Body.Close()
					return
				}
				head.WriteString(line)
			}
			if i%2 == 1 { // this client leaves; its generation is detached
				resp.Body.Close()
				started.Done()
				return
			}
			started.Done()
			resp.Body = struct {
				*bufio.Reader
				closer
			}{br, closer{resp.Body.Close}}
			s, err := chattest.Read(resp)
			if err != nil {
				t.Errorf("stream %d: %v", i, err)
			}
			mu.Lock()
			results = append(results, s)
			mu.Unlock()
		}()
	}
	started.Wait()
	if t.Failed() {
		t.FailNow()
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	ended.Wait()
	if len(results) != streams/2 {
		t.Fatalf("%d connected streams read to the end, want %d", len(results), streams/2)
	}
	for i, s := range results {
		if s.Terminals != 1 || s.Error == nil || s.Error.Code != chat.CodeUnavailable || !s.Error.Retryable || s.Done != nil {
			t.Fatalf("stream %d: terminals %d, error %+v, done %+v", i, s.Terminals, s.Error, s.Done)
		}
	}
	if n := strings.Count(logs.String(), "end=shutdown"); n != streams {
		t.Fatalf("%d finish hooks reported end=shutdown, want %d:\n%s", n, streams, logs)
	}
}

type closer struct{ close func() error }

func (c closer) Close() error { return c.close() }
