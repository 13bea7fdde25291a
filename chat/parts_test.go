package chat_test

import (
	"context"
	"encoding/json"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"

	"github.com/ssechat/ssechat/chat"
	"github.com/ssechat/ssechat/chat/chattest"
)

// partsScript is an answer with every kind of part: reasoning in pieces,
// two tool calls streamed in parallel (arguments split mid-token and
// mid-character), one completed by the provider and one left open (the
// handler completes it), a tool result and a tool error, data parts (one
// replaced by a later part with its id, one transient), text around them.
var partsScript = []chat.Chunk{
	{Reasoning: "The user greets me. "},
	{Reasoning: "想一想：", Text: ""},
	{Reasoning: "I should check the weather 🌦"},
	{ToolCalls: []chat.ToolCall{{ID: "call_a", Name: "weather", ArgumentsDelta: `{"ci`}}},
	{ToolCalls: []chat.ToolCall{{ID: "call_b", Name: "clock"}, {ID: "call_a", ArgumentsDelta: `ty":"北`}}},
	{ToolCalls: []chat.ToolCall{{ID: "call_b", ArgumentsDelta: `{"tz":"Asia/Shanghai"}`}, {ID: "call_a", ArgumentsDelta: `京"}`}}},
	{ToolCalls: []chat.ToolCall{{ID: "call_a", Arguments: `{"city":"北京"}`}}},
	{ToolResults: []chat.ToolResult{{ID: "call_a", Output: json.RawMessage(`{"temp":21,"sky":"晴"}`)}, {ID: "call_b", Error: "the clock is broken"}}},
	{Data: []chat.Data{{Name: "sources", ID: "s1", Value: json.RawMessage(`[{"url":"https://example.com/a"}]`)}}},
	{Data: []chat.Data{{Name: "status", Value: json.RawMessage(`"looking up"`), Transient: true}}},
	{Text: "It is 21 °C and ", Reasoning: "Now answer."},
	{Text: "sunny in 北京 ☀️."},
	{Data: []chat.Data{{Name: "sources", ID: "s1", Value: json.RawMessage(`[{"url":"https://example.com/b"}]`)}}},
	{FinishReason: "stop", Usage: &chat.Usage{InputTokens: 10, OutputTokens: 30, TotalTokens: 40, ReasoningTokens: 12}},
}

var (
	partsText      = "It is 21 °C and sunny in 北京 ☀️."
	partsReasoning = "The user greets me. 想一想：I should check the weather 🌦Now answer."
	partsCalls     = []chat.ToolCall{
		{ID: "call_a", Name: "weather", Arguments: `{"city":"北京"}`},
		{ID: "call_b", Name: "clock", Arguments: `{"tz":"Asia/Shanghai"}`},
	}
	partsResults = []chat.ToolResult{
		{ID: "call_a", Name: "weather", Output: json.RawMessage(`{"temp":21,"sky":"晴"}`)},
		{ID: "call_b", Name: "clock", Error: "the clock is broken"},
	}
	partsData      = []chat.Data{{Name: "sources", ID: "s1", Value: json.RawMessage(`[{"url":"https://example.com/b"}]`)}}
	partsTransient = chat.Data{Name: "status", Value: json.RawMessage(`"looking up"`), Transient: true}
)

// checkParts asserts that s shows exactly the script's parts, as mode can
// carry them: openai mode has no tool results or data parts; live says
// whether the transient data part must be there.
func checkParts(t *testing.T, mode chat.Mode, s *chattest.Stream, live bool) {
	t.Helper()
	if s.Error != nil || s.Done == nil || s.Terminals != 1 {
		t.Fatalf("error %+v, done %+v, %d terminals", s.Error, s.Done, s.Terminals)
	}
	if s.Text != partsText || s.Reasoning != partsReasoning {
		t.Fatalf("text %q, reasoning %q", s.Text, s.Reasoning)
	}
	if !reflect.DeepEqual(s.ToolCalls, partsCalls) {
		t.Fatalf("tool calls %+v", s.ToolCalls)
	}
	var results []chat.ToolResult
	data := []chat.Data{}
	if mode != chat.ModeOpenAI {
		results = partsResults
		data = append(data, partsData...)
		if live {
			data = append(data, partsTransient)
		}
	}
	got := append([]chat.Data{}, s.Data...)
	if !live { // a resume may or may not come before the transient part
		got = slicesDeleteTransient(got)
	}
	if !reflect.DeepEqual(s.ToolResults, results) || !reflect.DeepEqual(got, data) {
		t.Fatalf("tool results %+v, data %s", s.ToolResults, dataString(s.Data))
	}
	if s.Done.FinishReason != "stop" {
		t.Fatalf("finish reason %q", s.Done.FinishReason)
	}
}

func slicesDeleteTransient(ds []chat.Data) []chat.Data {
	out := ds[:0]
	for _, d := range ds {
		if !d.Transient {
			out = append(out, d)
		}
	}
	return out
}

func dataString(ds []chat.Data) string {
	var b strings.Builder
	for _, d := range ds {
		b.WriteString(d.Name + "/" + d.ID + "=" + string(d.Value) + " ")
	}
	return b.String()
}

// TestPartsEveryMode: every mode carries every part exactly, live and
// through a resume after every event, from the memory store and from
// Redis; the finish hook gets them too.
func TestPartsEveryMode(t *testing.T) {
	eachStore(t, func(t *testing.T, newStore func() chat.Store) {
		for _, mode := range []chat.Mode{chat.ModeDelta, chat.ModeSnapshot, chat.ModeOpenAI, chat.ModeUI} {
			t.Run(string(mode), func(t *testing.T) {
				results := make(chan *chat.Result, 1)
				h := chat.NewHandler(&chattest.Provider{Chunks: partsScript}, chat.WithStore(newStore()),
					chat.WithFinish(func(_ context.Context, r *chat.Result) { results <- r }))
				srv := httptest.NewServer(h)
				defer srv.Close()
				req := chattest.UserMessage("hi")
				req.StreamOptions = &chat.StreamOptions{IncludeUsage: true}
				full := post(t, srv, "?mode="+string(mode), req)
				if mode == chat.ModeUI {
					checkUIIDs(t, full)
				} else {
					checkIDsGaps(t, full, mode == chat.ModeOpenAI)
				}
				checkParts(t, mode, full, true)
				if u := full.Done.Usage; mode != chat.ModeUI && (u == nil || u.ReasoningTokens != 12) {
					t.Fatalf("usage %+v", u)
				}

				res := <-results
				if res.Text != partsText || res.Reasoning != partsReasoning || !reflect.DeepEqual(res.ToolCalls, partsCalls) ||
					!reflect.DeepEqual(res.ToolResults, partsResults) || !reflect.DeepEqual(res.Data, partsData) {
					t.Fatalf("the finish hook's result: %+v", res)
				}
				events := len(full.Events)
				if mode == chat.ModeUI { // markers (text-start, ...) are not counted
					events = 0
					prev := ""
					for _, ev := range full.Events {
						if ev.ID != prev {
							events++
							prev = ev.ID
						}
					}
				}
				if res.Events != events {
					t.Fatalf("Result.Events = %d, the stream had %d", res.Events, events)
				}

				// A resume after every event: the events before it and the
				// resume's are the same answer, with nothing twice.
				for i := range full.Events {
					if full.Events[i].ID == "" || i == len(full.Events)-1 {
						continue
					}
					rest, err := chattest.Resume(srv.Client(), srv.URL, full.Events[i].ID)
					if err != nil {
						t.Fatal(err)
					}
					joined, err := chattest.Join(&chattest.Stream{Events: full.Events[:i+1]}, rest)
					if err != nil {
						t.Fatalf("resume after %s: %v\n%+v", full.Events[i].ID, err, rest.Events)
					}
					checkParts(t, mode, joined, false)
				}
			})
		}
	})
}

// TestPartsMalformed: a provider's malformed part ends the stream with an
// internal error (its details kept from the client), after what came
// before it; nothing panics.
func TestPartsMalformed(t *testing.T) {
	for name, bad := range map[string]chat.Chunk{
		"call without id":     {ToolCalls: []chat.ToolCall{{Name: "f"}}},
		"call without name":   {ToolCalls: []chat.ToolCall{{ID: "c"}}},
		"call renamed":        {ToolCalls: []chat.ToolCall{{ID: "a", Name: "g"}}},
		"call after complete": {ToolCalls: []chat.ToolCall{{ID: "done", ArgumentsDelta: "x"}}},
		"output not JSON":     {ToolResults: []chat.ToolResult{{ID: "a", Output: json.RawMessage(`{`)}}},
		"result without id":   {ToolResults: []chat.ToolResult{{Output: json.RawMessage(`1`)}}},
		"data not JSON":       {Data: []chat.Data{{Name: "d", Value: json.RawMessage(`nope`)}}},
		"data without name":   {Data: []chat.Data{{Value: json.RawMessage(`1`)}}},
		"data without value":  {Data: []chat.Data{{Name: "d"}}},
		"transient not JSON":  {Data: []chat.Data{{Name: "d", Value: json.RawMessage(`{`), Transient: true}}},
		"over-long call id":   {ToolCalls: []chat.ToolCall{{ID: strings.Repeat("x", 300), Name: "f"}}},
		"over-long data name": {Data: []chat.Data{{Name: strings.Repeat("x", 300), Value: json.RawMessage(`1`)}}},
	} {
		t.Run(name, func(t *testing.T) {
			script := []chat.Chunk{
				{Text: "before"},
				{ToolCalls: []chat.ToolCall{{ID: "a", Name: "f"}, {ID: "done", Name: "f", Arguments: "{}"}}},
				bad,
				{Text: "after"},
			}
			srv := httptest.NewServer(chat.NewHandler(&chattest.Provider{Chunks: script}))
			defer srv.Close()
			s := post(t, srv, "", chattest.UserMessage("hi"))
			if s.Error == nil || s.Error.Code != chat.CodeInternal || s.Terminals != 1 || s.Text != "before" {
				t.Fatalf("error %+v, text %q, %d terminals", s.Error, s.Text, s.Terminals)
			}
			if strings.Contains(s.Error.Message, "tool") || strings.Contains(s.Error.Message, "JSON") {
				t.Fatalf("the provider's fault shown to the client: %q", s.Error.Message)
			}
		})
	}
}

// TestTransientNeverLogged: a transient data part reaches the client that
// follows the stream, and its value is never in the store: a resume after
// the answer does not replay it.
func TestTransientNeverLogged(t *testing.T) {
	store := chat.NewMemoryStore(chat.MemoryStoreOptions{})
	p := &chattest.Provider{Chunks: []chat.Chunk{
		{Data: []chat.Data{{Name: "status", Value: json.RawMessage(`"searching the secret archive"`), Transient: true}}},
		{Text: "done"},
	}}
	srv := httptest.NewServer(chat.NewHandler(p, chat.WithStore(store)))
	defer srv.Close()
	s := post(t, srv, "", chattest.UserMessage("hi"))
	if len(s.Data) != 1 || string(s.Data[0].Value) != `"searching the secret archive"` || !s.Data[0].Transient {
		t.Fatalf("live: %s", dataString(s.Data))
	}
	id := checkIDs(t, s)
	recs, err := store.Read(context.Background(), id, -1, 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range recs {
		if strings.Contains(string(r.Value), "secret") || strings.Contains(r.Text, "secret") {
			t.Fatalf("logged: %+v", r)
		}
	}
	rest, err := chattest.Resume(srv.Client(), srv.URL, id)
	if err != nil {
		t.Fatal(err)
	}
	if len(rest.Data) != 0 || rest.Text != "done" || rest.Done == nil {
		t.Fatalf("resume from the start: data %s, text %q", dataString(rest.Data), rest.Text)
	}
}

// checkUIIDs asserts a ui-mode stream's ids: the numbered chunks count up
// (with gaps), the markers (text-start, ...) have none, and every
// chunk is what the AI SDK's schema takes.
func checkUIIDs(t *testing.T, s *chattest.Stream) {
	t.Helper()
	if s.Header.Get("x-vercel-ai-ui-message-stream") != "v1" {
		t.Fatalf("header %q", s.Header.Get("x-vercel-ai-ui-message-stream"))
	}
	var numbered []chattest.Event
	prev := ""
	for _, ev := range s.Events {
		if ev.Name != "" {
			t.Fatalf("a named event %q", ev.Name)
		}
		if ev.ID != prev { // chattest.Event.ID is the last id seen
			numbered = append(numbered, ev)
			prev = ev.ID
		}
	}
	checkIDsGaps(t, &chattest.Stream{Events: numbered}, true)
}

// TestAILabel: with WithAILabel every answer says it is AI-generated, in
// every mode and through a resume (the label is kept with the stream).
func TestAILabel(t *testing.T) {
	eachStore(t, func(t *testing.T, newStore func() chat.Store) {
		srv := httptest.NewServer(chat.NewHandler(&chattest.Provider{Tokens: []string{"a", "b"}}, chat.WithStore(newStore()), chat.WithAILabel(true)))
		defer srv.Close()
		for _, mode := range []chat.Mode{chat.ModeDelta, chat.ModeSnapshot, chat.ModeOpenAI, chat.ModeUI} {
			s := post(t, srv, "?mode="+string(mode), chattest.UserMessage("hi"))
			if s.Header.Get(chat.AILabelHeader) != "true" {
				t.Fatalf("%s: header %q", mode, s.Header.Get(chat.AILabelHeader))
			}
			switch mode {
			case chat.ModeDelta, chat.ModeSnapshot:
				if !s.Start.AIGenerated {
					t.Fatalf("%s: start %+v", mode, s.Start)
				}
				rest, err := chattest.Resume(srv.Client(), srv.URL, s.Start.ID)
				if err != nil || !rest.Start.AIGenerated || rest.Header.Get(chat.AILabelHeader) != "true" {
					t.Fatalf("%s: resumed start %+v header %q %v", mode, rest.Start, rest.Header.Get(chat.AILabelHeader), err)
				}
			case chat.ModeUI:
				if !strings.Contains(s.Events[0].Data, `"messageMetadata":{"aiGenerated":true}`) {
					t.Fatalf("ui start chunk %s", s.Events[0].Data)
				}
			}
		}
	})
}
