package moderation_test

import (
	"context"
	"net/http/httptest"
	"strings"
	"testing"

	"go.uber.org/goleak"

	"github.com/ssechat/ssechat/chat"
	"github.com/ssechat/ssechat/chat/chattest"
	"github.com/ssechat/ssechat/chat/moderation"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const (
	word   = "敏感词"
	before = "第一句话。Then some "
	after  = " and the rest. 最后"
)

// TestBlockedWordSplitAnywhere: a blocked word split at every pair of
// chunk boundaries never reaches the client, in any mode, nor through a
// resume at any position of the filtered stream, nor the finish hook or
// the log; what was released before it is a prefix of the answer that
// ends before the word.
func TestBlockedWordSplitAnywhere(t *testing.T) {
	full := []rune(before + word + after)
	wordAt := len(before) // bytes
	partial := 0          // answers of which a part before the word was released
	for _, maxRunes := range []int{200, 4} {
		store := chat.NewMemoryStore(chat.MemoryStoreOptions{})
		results := make(chan *chat.Result, 1)
		var script []chat.Chunk
		for i := 1; i < len(full); i++ {
			for j := i; j < len(full); j++ {
				script = nil
				for _, piece := range []string{string(full[:i]), string(full[i:j]), string(full[j:])} {
					if piece != "" {
						script = append(script, chat.Chunk{Text: piece})
					}
				}
				prov := &chattest.Provider{Chunks: script}
				h := chat.NewHandler(prov, chat.WithStore(store),
					chat.WithModeration(chat.ModerationOptions{Moderator: moderation.NewWordList("无关", word), MaxRunes: maxRunes}),
					chat.WithFinish(func(_ context.Context, r *chat.Result) { results <- r }))
				srv := httptest.NewServer(h)
				for _, mode := range []chat.Mode{chat.ModeDelta, chat.ModeSnapshot, chat.ModeOpenAI, chat.ModeUI} {
					label := func() string {
						return string(mode) + " split " + string(full[:i]) + "|" + string(full[i:j]) + "|" + string(full[j:])
					}
					s, err := chattest.Post(srv.Client(), srv.URL+"?mode="+string(mode), chattest.UserMessage("hi"))
					if err != nil {
						t.Fatal(err)
					}
					res := <-results
					check := func(what, got string) {
						t.Helper()
						if strings.Contains(got, word[:3]) || len(got) > wordAt || !strings.HasPrefix(before, got) {
							t.Fatalf("%s: %s %q", label(), what, got)
						}
					}
					check("client text", s.Text)
					if s.Text != "" {
						partial++
					}
					check("finish hook text", res.Text)
					if s.Error == nil || (mode != chat.ModeUI && s.Error.Code != chat.CodeContentFiltered) || s.Terminals != 1 {
						t.Fatalf("%s: error %+v done %+v terminals %d", label(), s.Error, s.Done, s.Terminals)
					}
					if res.End != chat.EndContentFiltered || res.FinishReason != "content_filter" {
						t.Fatalf("%s: end %s finish %q", label(), res.End, res.FinishReason)
					}
					// The log has none of it either, and no resume shows it.
					id, _, _ := strings.Cut(s.Events[len(s.Events)-1].ID, ".")
					recs, err := store.Read(context.Background(), id, -1, 0)
					if err != nil {
						t.Fatal(err)
					}
					var logged strings.Builder
					for _, r := range recs {
						logged.WriteString(r.Text)
					}
					check("log", logged.String())
					if maxRunes == 4 && mode == chat.ModeDelta {
						for k, ev := range s.Events {
							if ev.ID == "" || k == len(s.Events)-1 {
								continue
							}
							rest, err := chattest.Resume(srv.Client(), srv.URL, ev.ID)
							if err != nil {
								t.Fatal(err)
							}
							joined, err := chattest.Join(&chattest.Stream{Events: s.Events[:k+1]}, rest)
							if err != nil {
								t.Fatal(err)
							}
							check("resumed text", joined.Text)
							if joined.Text != s.Text || joined.Error == nil || joined.Error.Code != chat.CodeContentFiltered {
								t.Fatalf("%s: resumed after %s: %q %+v", label(), ev.ID, joined.Text, joined.Error)
							}
						}
					}
				}
				srv.Close()
			}
		}
	}
	t.Logf("%d answers released a part before the blocked word", partial)
	if partial == 0 {
		t.Fatal("no answer released anything: the hold-back is not exercised")
	}
}

// TestCleanAnswerPasses: an answer with no blocked word streams whole, in
// pieces released at sentence ends, in every mode.
func TestCleanAnswerPasses(t *testing.T) {
	const text = "第一句。第二句！Third sentence? And a last line\nwith no end"
	var script []chat.Chunk
	for _, r := range text {
		script = append(script, chat.Chunk{Text: string(r)})
	}
	h := chat.NewHandler(&chattest.Provider{Chunks: script}, chat.WithModeration(chat.ModerationOptions{Moderator: moderation.NewWordList(word)}))
	srv := httptest.NewServer(h)
	defer srv.Close()
	for _, mode := range []chat.Mode{chat.ModeDelta, chat.ModeSnapshot, chat.ModeOpenAI, chat.ModeUI} {
		s, err := chattest.Post(srv.Client(), srv.URL+"?mode="+string(mode), chattest.UserMessage("hi"))
		if err != nil {
			t.Fatal(err)
		}
		if s.Text != text || s.Done == nil || s.Error != nil {
			t.Fatalf("%s: %q %+v", mode, s.Text, s.Error)
		}
	}
}

// TestRetract: with Retract, text released before a blocked piece is
// replaced on the client by the retraction, in delta and snapshot modes,
// also through a resume.
func TestRetract(t *testing.T) {
	script := []chat.Chunk{{Text: "第一句。"}, {Text: "第二句含敏感词。"}}
	h := chat.NewHandler(&chattest.Provider{Chunks: script},
		chat.WithModeration(chat.ModerationOptions{Moderator: moderation.NewWordList(word), Retract: "该回答已被过滤"}))
	srv := httptest.NewServer(h)
	defer srv.Close()
	for _, mode := range []chat.Mode{chat.ModeDelta, chat.ModeSnapshot} {
		s, err := chattest.Post(srv.Client(), srv.URL+"?mode="+string(mode), chattest.UserMessage("hi"))
		if err != nil {
			t.Fatal(err)
		}
		if s.Text != "该回答已被过滤" || s.Error == nil || s.Error.Code != chat.CodeContentFiltered {
			t.Fatalf("%s: text %q error %+v", mode, s.Text, s.Error)
		}
		id, _, _ := strings.Cut(s.Events[0].ID, ".")
		rest, err := chattest.Resume(srv.Client(), srv.URL, id)
		if err != nil || rest.Text != "该回答已被过滤" {
			t.Fatalf("%s: resumed %q %v", mode, rest.Text, err)
		}
	}
}

// TestReasoningIsModerated: a blocked word in the reasoning is caught the
// same way: none of it is shown, and the answer ends content_filtered.
func TestReasoningIsModerated(t *testing.T) {
	script := []chat.Chunk{{Reasoning: "我想想。"}, {Reasoning: "这里有敏"}, {Reasoning: "感词。"}, {Text: "答案。"}}
	h := chat.NewHandler(&chattest.Provider{Chunks: script}, chat.WithModeration(chat.ModerationOptions{Moderator: moderation.NewWordList(word)}))
	srv := httptest.NewServer(h)
	defer srv.Close()
	for _, mode := range []chat.Mode{chat.ModeDelta, chat.ModeSnapshot, chat.ModeOpenAI, chat.ModeUI} {
		s, err := chattest.Post(srv.Client(), srv.URL+"?mode="+string(mode), chattest.UserMessage("hi"))
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(s.Reasoning, "敏") || !strings.HasPrefix("我想想。这里有", s.Reasoning) || s.Text != "" || s.Error == nil {
			t.Fatalf("%s: reasoning %q text %q error %+v", mode, s.Reasoning, s.Text, s.Error)
		}
	}
}
