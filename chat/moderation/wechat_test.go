package moderation_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/ssechat/ssechat/chat"
	"github.com/ssechat/ssechat/chat/chattest"
	"github.com/ssechat/ssechat/chat/moderation"
)

// fakeWeChat is a local stand-in for WeChat's API, speaking its documented
// JSON: cgi-bin/stable_token and wxa/msg_sec_check (version 2). Content
// containing "违规" is risky, "待审" review; everything else passes.
type fakeWeChat struct {
	mu        sync.Mutex
	tokens    int             // tokens issued
	valid     map[string]bool // tokens it accepts
	expiresIn int             // what stable_token says, in seconds
	limited   bool            // answer 45009
	hang      bool            // never answer msg_sec_check
	contents  []string        // what msg_sec_check was asked
	openids   map[string]int  // by openid
	forced    int             // force_refresh calls
	checked   chan int        // if set, gets the number of checks after each
}

func newFakeWeChat() *fakeWeChat {
	return &fakeWeChat{valid: map[string]bool{}, expiresIn: 7200, openids: map[string]int{}}
}

func (f *fakeWeChat) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var body map[string]any
	_ = json.NewDecoder(r.Body).Decode(&body)
	f.mu.Lock()
	defer f.mu.Unlock()
	reply := func(v any) { _ = json.NewEncoder(w).Encode(v) }
	switch r.URL.Path {
	case "/cgi-bin/stable_token":
		if body["appid"] != "wxapp" || body["secret"] != "s3cret" || body["grant_type"] != "client_credential" {
			reply(map[string]any{"errcode": 40013, "errmsg": "invalid appid"})
			return
		}
		if body["force_refresh"] == true {
			f.forced++
		}
		f.tokens++
		tok := "token-" + strconv.Itoa(f.tokens)
		f.valid[tok] = true
		reply(map[string]any{"access_token": tok, "expires_in": f.expiresIn})
	case "/wxa/msg_sec_check":
		if f.hang {
			f.mu.Unlock()
			<-r.Context().Done()
			f.mu.Lock()
			return
		}
		if !f.valid[r.URL.Query().Get("access_token")] {
			reply(map[string]any{"errcode": 40001, "errmsg": "invalid credential, access_token is invalid or not latest"})
			return
		}
		if f.limited {
			reply(map[string]any{"errcode": 45009, "errmsg": "reach max api daily quota limit"})
			return
		}
		content, _ := body["content"].(string)
		openid, _ := body["openid"].(string)
		if body["version"] != float64(2) || openid == "" || utf8.RuneCountInString(content) > 2000 {
			reply(map[string]any{"errcode": 40003, "errmsg": "invalid args"})
			return
		}
		f.contents = append(f.contents, content)
		f.openids[openid]++
		if f.checked != nil {
			f.checked <- len(f.contents)
		}
		suggest, label := "pass", 100
		switch {
		case strings.Contains(content, "违规"):
			suggest, label = "risky", 20002
		case strings.Contains(content, "待审"):
			suggest, label = "review", 10001
		}
		reply(map[string]any{"errcode": 0, "errmsg": "ok", "result": map[string]any{"suggest": suggest, "label": label},
			"detail": []any{map[string]any{"strategy": "content_model", "errcode": 0, "suggest": suggest, "label": label, "prob": 90}}, "trace_id": "t"})
	default:
		http.NotFound(w, r)
	}
}

func (f *fakeWeChat) revoke() {
	f.mu.Lock()
	defer f.mu.Unlock()
	clear(f.valid)
}

// wechatServer is a chat handler moderated by WeChat (via the fake); the
// prepare hook sets the owner, which is the openid.
func wechatServer(t *testing.T, fake *fakeWeChat, o moderation.WeChatOptions, mo chat.ModerationOptions, p chat.Provider) (*httptest.Server, chan *chat.Result) {
	t.Helper()
	api := httptest.NewServer(fake)
	t.Cleanup(api.Close)
	o.AppID, o.Secret, o.BaseURL = "wxapp", "s3cret", api.URL
	mo.Moderator = moderation.NewWeChat(o)
	results := make(chan *chat.Result, 8)
	srv := httptest.NewServer(chat.NewHandler(p, chat.WithModeration(mo),
		chat.WithPrepare(func(r *http.Request, req *chat.Request) error { req.Owner = "openid-alice"; return nil }),
		chat.WithFinish(func(_ context.Context, r *chat.Result) { results <- r })))
	t.Cleanup(srv.Close)
	return srv, results
}

func sentences(s ...string) *chattest.Provider {
	var c []chat.Chunk
	for _, x := range s {
		c = append(c, chat.Chunk{Text: x})
	}
	return &chattest.Provider{Chunks: c}
}

func TestWeChatPassRiskyReview(t *testing.T) {
	for _, c := range []struct {
		name        string
		text        []string
		blockReview bool
		want        string // the text shown; "" with blocked
		blocked     bool
	}{
		{"pass", []string{"你好。", "今天天气很好。"}, false, "你好。今天天气很好。", false},
		{"risky", []string{"你好。", "这是违规内容。", "后面"}, false, "你好。", true},
		{"review passes", []string{"你好。", "这段待审。"}, false, "你好。这段待审。", false},
		{"review blocks", []string{"你好。", "这段待审。"}, true, "你好。", true},
	} {
		t.Run(c.name, func(t *testing.T) {
			fake := newFakeWeChat()
			srv, results := wechatServer(t, fake, moderation.WeChatOptions{BlockReview: c.blockReview}, chat.ModerationOptions{}, sentences(c.text...))
			s, err := chattest.Post(srv.Client(), srv.URL, chattest.UserMessage("hi"))
			if err != nil {
				t.Fatal(err)
			}
			r := <-results
			if s.Text != c.want || (s.Error != nil) != c.blocked || c.blocked && s.Error.Code != chat.CodeContentFiltered || r.Text != c.want {
				t.Fatalf("text %q error %+v result %q", s.Text, s.Error, r.Text)
			}
			if fake.openids["openid-alice"] == 0 || fake.tokens != 1 {
				t.Fatalf("openids %v tokens %d", fake.openids, fake.tokens)
			}
		})
	}
}

// TestWeChatToken: a token that expires mid-stream is renewed before use;
// one the API calls invalid (40001) is renewed (force_refresh) and the
// check retried, once.
func TestWeChatToken(t *testing.T) {
	fake := newFakeWeChat()
	fake.expiresIn = 120
	fake.checked = make(chan int, 8)
	now := time.Now()
	var clock sync.Mutex
	step := make(chan struct{})
	p := &chattest.Provider{Chunks: []chat.Chunk{{Text: "第一句。"}, {Text: "第二句。"}, {Text: "第三句。"}}, Step: step}
	srv, results := wechatServer(t, fake, moderation.WeChatOptions{Now: func() time.Time { clock.Lock(); defer clock.Unlock(); return now }},
		chat.ModerationOptions{}, p)
	done := make(chan *chattest.Stream, 1)
	go func() {
		s, err := chattest.Post(srv.Client(), srv.URL, chattest.UserMessage("hi"))
		if err != nil {
			t.Error(err)
		}
		done <- s
	}()
	step <- struct{}{}
	<-fake.checked // the first sentence was checked
	// The token's life passes.
	clock.Lock()
	now = now.Add(2 * time.Minute)
	clock.Unlock()
	step <- struct{}{}
	<-fake.checked // the second, with a new token
	// The API drops the token.
	fake.revoke()
	step <- struct{}{}
	s := <-done
	<-results
	if s.Text != "第一句。第二句。第三句。" || s.Error != nil {
		t.Fatalf("text %q error %+v", s.Text, s.Error)
	}
	if fake.tokens != 3 || fake.forced != 1 {
		t.Fatalf("%d tokens, %d forced", fake.tokens, fake.forced)
	}
}

// TestWeChatFailures: a rate limit and a timeout block (fail closed) or
// pass (fail open), and never show WeChat's message or the token.
func TestWeChatFailures(t *testing.T) {
	for _, c := range []struct {
		name     string
		limited  bool
		hang     bool
		failOpen bool
	}{
		{"rate limited, fail closed", true, false, false},
		{"rate limited, fail open", true, false, true},
		{"timeout, fail closed", false, true, false},
		{"timeout, fail open", false, true, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			fake := newFakeWeChat()
			fake.limited, fake.hang = c.limited, c.hang
			srv, results := wechatServer(t, fake, moderation.WeChatOptions{},
				chat.ModerationOptions{FailOpen: c.failOpen, Timeout: 50 * time.Millisecond}, sentences("你好。", "世界。"))
			s, err := chattest.Post(srv.Client(), srv.URL, chattest.UserMessage("hi"))
			if err != nil {
				t.Fatal(err)
			}
			r := <-results
			if c.failOpen {
				if s.Text != "你好。世界。" || s.Done == nil {
					t.Fatalf("fail open: %q %+v", s.Text, s.Error)
				}
				return
			}
			if s.Text != "" || s.Error == nil || s.Error.Code != chat.CodeContentFiltered || strings.Contains(s.Error.Message, "quota") || strings.Contains(s.Error.Message, "token") {
				t.Fatalf("fail closed: %q %+v", s.Text, s.Error)
			}
			if r.End != chat.EndContentFiltered || r.Err == nil {
				t.Fatalf("result %s %v", r.End, r.Err)
			}
		})
	}
}

// TestWeChatWindows: text longer than 2,000 characters is checked in
// windows of at most 2,000, which together cover all of it.
func TestWeChatWindows(t *testing.T) {
	fake := newFakeWeChat()
	long := strings.Repeat("长", 4500)
	srv, results := wechatServer(t, fake, moderation.WeChatOptions{}, chat.ModerationOptions{MaxRunes: 5000}, sentences(long, "违规"))
	s, err := chattest.Post(srv.Client(), srv.URL, chattest.UserMessage("hi"))
	if err != nil {
		t.Fatal(err)
	}
	<-results
	if s.Text != "" || s.Error == nil || s.Error.Code != chat.CodeContentFiltered {
		t.Fatalf("text %d runes, error %+v", utf8.RuneCountInString(s.Text), s.Error)
	}
	total := 0
	for _, c := range fake.contents {
		n := utf8.RuneCountInString(c)
		if n > 2000 {
			t.Fatalf("a window of %d", n)
		}
		total += n
	}
	if len(fake.contents) < 3 || total < 4502 || !strings.Contains(fake.contents[len(fake.contents)-1], "违规") {
		t.Fatalf("%d windows, %d characters", len(fake.contents), total)
	}
}
