// Package fakeopenai is a local stand-in for an OpenAI-compatible chat
// completions endpoint, speaking the vendor's streaming wire format: a role
// chunk, content chunks, a finish chunk, a usage chunk with empty choices
// (when stream_options.include_usage is set) and "data: [DONE]". Tests choose
// a failure by the last user message. It is for tests only.
package fakeopenai

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"
)

// Scripts, chosen by the last user message; any other message is echoed.
const (
	// ScriptCut ends the response cleanly after two content chunks, without
	// a finish chunk or [DONE].
	ScriptCut = "cut"
	// ScriptCutAfterFinish ends after the finish and usage chunks, without [DONE].
	ScriptCutAfterFinish = "cut-after-finish"
	// ScriptDrop closes the connection abruptly mid-stream.
	ScriptDrop = "drop"
	// ScriptMidError sends a content chunk, then an error payload.
	ScriptMidError = "mid-error"
	// ScriptComments sends SSE comments and keep-alive lines (more than
	// go-openai's default limit of 300) between chunks.
	ScriptComments = "comments"
	// ScriptSlow sends the role chunk and one content chunk, then waits
	// until the client goes away.
	ScriptSlow = "slow"
	// ScriptStatus answers "status <code>" with that status and an OpenAI
	// error body that quotes the API key, as OpenAI does for a bad key.
	ScriptStatus = "status "
)

// Server is the fake. Its zero value is ready to use.
type Server struct {
	// Delay is waited between chunks.
	Delay time.Duration

	mu       sync.Mutex
	requests []Request
	ended    chan time.Time
}

// Request is what the fake received.
type Request struct {
	Authorization string
	Body          map[string]any
}

// Requests returns the requests received so far.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.requests...)
}

// Ended delivers, for each ScriptSlow request, the time its request context
// ended: when the client's connection closed or its stream was reset.
func (s *Server) Ended() <-chan time.Time { return s.endedCh() }

func (s *Server) endedCh() chan time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ended == nil {
		s.ended = make(chan time.Time, 16)
	}
	return s.ended
}

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost || !strings.HasSuffix(r.URL.Path, "/chat/completions") {
		http.Error(w, `{"error":{"message":"not found","type":"invalid_request_error"}}`, http.StatusNotFound)
		return
	}
	var body map[string]any
	if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
		http.Error(w, `{"error":{"message":"bad json","type":"invalid_request_error"}}`, http.StatusBadRequest)
		return
	}
	s.mu.Lock()
	s.requests = append(s.requests, Request{Authorization: r.Header.Get("Authorization"), Body: body})
	s.mu.Unlock()
	ended := s.endedCh()

	last := lastUserMessage(body)
	model, _ := body["model"].(string)
	includeUsage := false
	if so, ok := body["stream_options"].(map[string]any); ok {
		includeUsage, _ = so["include_usage"].(bool)
	}

	if code, ok := strings.CutPrefix(last, ScriptStatus); ok {
		var status int
		fmt.Sscan(code, &status)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		fmt.Fprintf(w, `{"error":{"message":"Incorrect API key provided: %s. You can find your API key at https://example.invalid.","type":"invalid_request_error","param":null,"code":"invalid_api_key"}}`, r.Header.Get("Authorization"))
		return
	}

	w.Header().Set("Content-Type", "text/event-stream; charset=utf-8")
	w.Header().Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	chunk := func(delta string, finish string, usage string) {
		fr := "null"
		if finish != "" {
			fr = `"` + finish + `"`
		}
		choices := `[{"index":0,"delta":` + delta + `,"logprobs":null,"finish_reason":` + fr + `}]`
		if usage != "" {
			choices = "[]"
		} else {
			usage = "null"
		}
		fmt.Fprintf(w, "data: {\"id\":\"chatcmpl-fake\",\"object\":\"chat.completion.chunk\",\"created\":1700000000,\"model\":%q,\"system_fingerprint\":\"fp_fake\",\"choices\":%s,\"usage\":%s}\n\n", model, choices, usage)
		rc.Flush()
		if s.Delay > 0 {
			select {
			case <-time.After(s.Delay):
			case <-r.Context().Done():
			}
		}
	}
	content := func(text string) {
		b, _ := json.Marshal(map[string]string{"content": text})
		chunk(string(b), "", "")
	}

	chunk(`{"role":"assistant","content":"","refusal":null}`, "", "")
	switch last {
	case ScriptSlow:
		content("thinking")
		<-r.Context().Done()
		ended <- time.Now()
		return
	case ScriptCut:
		content("Hel")
		content("lo")
		return
	case ScriptDrop:
		content("Hel")
		panic(http.ErrAbortHandler) // the server closes the connection
	case ScriptMidError:
		content("Hel")
		fmt.Fprint(w, "data: {\"error\":{\"message\":\"The server had an error while processing your request. key="+r.Header.Get("Authorization")+"\",\"type\":\"server_error\",\"param\":null,\"code\":null}}\n\n")
		return
	case ScriptComments:
		for i := range 400 {
			fmt.Fprintf(w, ": keep-alive %d\n\n", i)
		}
		content("Hel")
		fmt.Fprint(w, ": OPENROUTER PROCESSING\n\n\n\n")
		content("lo")
	default:
		// Echo in pieces of up to three runes.
		runes := []rune(last)
		for i := 0; i < len(runes); i += 3 {
			content(string(runes[i:min(i+3, len(runes))]))
		}
	}
	chunk(`{}`, "stop", "")
	if includeUsage {
		chunk("", "", `{"prompt_tokens":11,"completion_tokens":5,"total_tokens":16,"prompt_tokens_details":{"cached_tokens":0},"completion_tokens_details":{"reasoning_tokens":0}}`)
	}
	if last == ScriptCutAfterFinish {
		return
	}
	fmt.Fprint(w, "data: [DONE]\n\n")
}

func lastUserMessage(body map[string]any) string {
	msgs, _ := body["messages"].([]any)
	for i := len(msgs) - 1; i >= 0; i-- {
		m, _ := msgs[i].(map[string]any)
		if m["role"] == "user" {
			s, _ := m["content"].(string)
			return s
		}
	}
	return ""
}
