package moderation_test

import (
	"context"
	"iter"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	gosse "github.com/tmaxmax/go-sse"

	"github.com/ssechat/ssechat/chat"
	"github.com/ssechat/ssechat/chat/chattest"
	"github.com/ssechat/ssechat/chat/moderation"
)

// pacedProvider yields pieces of text every pace, noting when it yielded
// each.
type pacedProvider struct {
	pieces []string
	pace   time.Duration
	mu     sync.Mutex
	at     []time.Time
}

func (p *pacedProvider) Stream(ctx context.Context, _ *chat.Request) iter.Seq2[chat.Chunk, error] {
	return func(yield func(chat.Chunk, error) bool) {
		t := time.NewTicker(p.pace)
		defer t.Stop()
		for _, s := range p.pieces {
			select {
			case <-ctx.Done():
				yield(chat.Chunk{}, ctx.Err())
				return
			case <-t.C:
			}
			p.mu.Lock()
			p.at = append(p.at, time.Now())
			p.mu.Unlock()
			if !yield(chat.Chunk{Text: s}, nil) {
				return
			}
		}
	}
}

// BenchmarkHoldBackLatency measures the delay that hold-back adds to a
// passing answer: for each piece, from the provider's yield to the
// client's receipt, with and without a word-list moderator, at 50 pieces a
// second (a model's pace), sentences of about 40 characters.
func BenchmarkHoldBackLatency(b *testing.B) {
	sentence := strings.Split("这是 一个 流式 回答 的 句子， 它 有 十来 个 词 然后 结束。 ", " ")
	var pieces []string
	for range 5 {
		pieces = append(pieces, sentence...)
	}
	words := []string{"敏感词", "另一个词", "第三个", "badword"}
	for _, moderated := range []bool{false, true} {
		name := "plain"
		var opts []chat.Option
		if moderated {
			name = "wordlist"
			opts = append(opts, chat.WithModeration(chat.ModerationOptions{Moderator: moderation.NewWordList(words...)}))
		}
		b.Run(name, func(b *testing.B) {
			var delays []time.Duration
			for b.Loop() {
				p := &pacedProvider{pieces: pieces, pace: 20 * time.Millisecond}
				srv := httptest.NewServer(chat.NewHandler(p, opts...))
				resp, err := srv.Client().Post(srv.URL, "application/json", strings.NewReader(`{"messages":[{"role":"user","content":"hi"}]}`))
				if err != nil {
					b.Fatal(err)
				}
				// Read event by event, noting when each piece's text arrived.
				var got strings.Builder
				var recv []time.Time // per rune of the answer
				for ev, err := range chattestEvents(resp) {
					if err != nil {
						b.Fatal(err)
					}
					if ev.Name == chat.EventDelta {
						var d chat.TextData
						_ = ev.Decode(&d)
						got.WriteString(d.Text)
						for range []rune(d.Text) {
							recv = append(recv, time.Now())
						}
					}
				}
				resp.Body.Close()
				srv.Close()
				i := 0
				for k, piece := range pieces {
					for range []rune(piece) {
						delays = append(delays, recv[i].Sub(p.at[k]))
						i++
					}
				}
			}
			slices.Sort(delays)
			b.ReportMetric(float64(delays[len(delays)/2].Microseconds())/1000, "p50-ms")
			b.ReportMetric(float64(delays[len(delays)*99/100].Microseconds())/1000, "p99-ms")
		})
	}
}

// BenchmarkModeratedEvent measures the CPU of one piece of text through
// the handler, with and without a word-list moderator, at full speed.
func BenchmarkModeratedEvent(b *testing.B) {
	const n = 2000
	pieces := make([]string, n)
	for i := range pieces {
		pieces[i] = "词语，"
		if i%10 == 9 {
			pieces[i] = "句子结束。"
		}
	}
	for _, moderated := range []bool{false, true} {
		name := "plain"
		var opts []chat.Option
		if moderated {
			name = "wordlist"
			opts = append(opts, chat.WithModeration(chat.ModerationOptions{Moderator: moderation.NewWordList("敏感词", "badword")}))
		}
		b.Run(name, func(b *testing.B) {
			srv := httptest.NewServer(chat.NewHandler(&chattest.Provider{Tokens: pieces}, opts...))
			defer srv.Close()
			for b.Loop() {
				s, err := chattest.Post(srv.Client(), srv.URL, chattest.UserMessage("hi"))
				if err != nil || s.Done == nil {
					b.Fatal(err, s.Error)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/piece")
		})
	}
}

// chattestEvents yields resp's events as they arrive.
func chattestEvents(resp *http.Response) iter.Seq2[chattest.Event, error] {
	return func(yield func(chattest.Event, error) bool) {
		for ev, err := range gosse.Read(resp.Body, nil) {
			if !yield(chattest.Event{ID: ev.LastEventID, Name: ev.Type, Data: ev.Data}, err) || err != nil {
				return
			}
		}
	}
}
