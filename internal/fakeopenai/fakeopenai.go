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
	// ScriptReason answers "reason <text>" as DeepSeek's reasoning models
	// do: delta.reasoning_content pieces ("Thinking about: <text>") with
	// content null, then the text echoed with reasoning_content null, and
	// usage with completion_tokens_details.reasoning_tokens on the finish
	// chunk.
	ScriptReason = "reason "
	// ScriptTools makes two parallel tool calls in OpenAI's delta format,
	// their pieces interleaved: weather {"city":"北京"} (id call_weather)
	// and clock {"tz":"Asia/Shanghai"} (id call_clock), then finish reason
	// tool_calls. When the conversation ends with tool results, it answers
	// "Results: " and the results' contents joined with "; " instead.
	ScriptTools = "tools"
	// ScriptToolsForever calls weather at every step, results or not.
	ScriptToolsForever = "tools-forever"
)

// Reasoning is what ScriptReason reasons for text.
func Reasoning(text string) string { return "Thinking about: " + text }

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

	if text, ok := strings.CutPrefix(last, ScriptReason); ok {
		chunk(`{"role":"assistant","content":null,"reasoning_content":""}`, "", "")
		pieces := func(s string, field, other string) {
			runes := []rune(s)
			for i := 0; i < len(runes); i += 3 {
				b, _ := json.Marshal(string(runes[i:min(i+3, len(runes))]))
				chunk(`{"`+other+`":null,"`+field+`":`+string(b)+`}`, "", "")
			}
		}
		pieces(Reasoning(text), "reasoning_content", "content")
		pieces(text, "content", "reasoning_content")
		// DeepSeek puts usage on the finish chunk, choices and all.
		fmt.Fprintf(w, "data: {\"id\":\"chatcmpl-fake\",\"object\":\"chat.completion.chunk\",\"created\":1700000000,\"model\":%q,\"choices\":[{\"index\":0,\"delta\":{\"content\":\"\",\"reasoning_content\":null},\"logprobs\":null,\"finish_reason\":\"stop\"}],\"usage\":{\"prompt_tokens\":11,\"completion_tokens\":20,\"total_tokens\":31,\"prompt_tokens_details\":{\"cached_tokens\":0},\"completion_tokens_details\":{\"reasoning_tokens\":7},\"prompt_cache_hit_tokens\":0,\"prompt_cache_miss_tokens\":11}}\n\n", model)
		fmt.Fprint(w, "data: [DONE]\n\n")
		return
	}
	if last == ScriptTools || last == ScriptToolsForever {
		if results, ok := toolResults(body); ok && last == ScriptTools {
			chunk(`{"role":"assistant","content":""}`, "", "")
			b, _ := json.Marshal("Results: " + strings.Join(results, "; "))
			chunk(`{"content":`+string(b)+`}`, "", "")
			chunk(`{}`, "stop", "")
		} else {
			chunk(`{"role":"assistant","content":null,"tool_calls":[{"index":0,"id":"call_weather","type":"function","function":{"name":"weather","arguments":""}}],"refusal":null}`, "", "")
			args := func(i int, piece string) {
				b, _ := json.Marshal(piece)
				chunk(fmt.Sprintf(`{"tool_calls":[{"index":%d,"function":{"arguments":%s}}]}`, i, b), "", "")
			}
			args(0, `{"ci`)
			if last == ScriptTools {
				chunk(`{"tool_calls":[{"index":1,"id":"call_clock","type":"function","function":{"name":"clock","arguments":""}}]}`, "", "")
				args(1, `{"tz":"Asia/`)
			}
			args(0, `ty":"北`)
			if last == ScriptTools {
				args(1, `Shanghai"}`)
			}
			args(0, `京"}`)
			chunk(`{}`, "tool_calls", "")
		}
		if includeUsage {
			chunk("", "", `{"prompt_tokens":11,"completion_tokens":5,"total_tokens":16}`)
		}
		fmt.Fprint(w, "data: [DONE]\n\n")
		return
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

// toolResults returns the contents of the tool messages that end the
// conversation, if it ends with some.
func toolResults(body map[string]any) ([]string, bool) {
	msgs, _ := body["messages"].([]any)
	var out []string
	for i := len(msgs) - 1; i >= 0; i-- {
		m, _ := msgs[i].(map[string]any)
		if m["role"] != "tool" {
			break
		}
		s, _ := m["content"].(string)
		out = append([]string{s}, out...)
	}
	return out, len(out) > 0
}
