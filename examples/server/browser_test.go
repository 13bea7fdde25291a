package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"image/png"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/ssechat/ssechat/internal/fakeopenai"
	"github.com/ssechat/ssechat/internal/servertest"
)

// recordFrames makes the page record the last answer's text at every
// animation frame, that is at every paint, from now on; and marks the status
// so that a wait for the next one cannot see the last.
const recordFrames = `(() => {
  window.frames_ = [];
  document.querySelector('#status').dataset.state = 'sending';
  if (window.recording_) return;
  window.recording_ = true;
  const tick = () => {
    const a = document.querySelector('#messages .assistant:last-of-type .text');
    const t = a ? a.textContent : null;
    if (t !== null && window.frames_[window.frames_.length - 1] !== t) window.frames_.push(t);
    requestAnimationFrame(tick);
  };
  requestAnimationFrame(tick);
})()`

// browser starts a headless Chromium for the test and returns a context
// for its first tab.
func browser(t *testing.T) context.Context {
	t.Helper()
	exec := servertest.Tool(t, "chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(exec),
		chromedp.NoSandbox, // CI runs as root
		chromedp.DisableGPU,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(800, 600),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelTab := chromedp.NewContext(actx)
	ctx, cancelTime := context.WithTimeout(ctx, 2*time.Minute)
	t.Cleanup(func() {
		cancelTime()
		cancelTab()
		cancelAlloc() // waits for the browser to exit
	})
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("starting %s: %v", exec, err)
	}
	return ctx
}

// screenshot saves a PNG of the page to the directory named by
// SSECHAT_SCREENSHOTS (a temporary one when unset) and checks it decodes.
func screenshot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	buf, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := png.DecodeConfig(bytes.NewReader(buf))
	if err != nil || cfg.Width < 100 || cfg.Height < 100 {
		t.Fatalf("screenshot %s: %v (%dx%d)", name, err, cfg.Width, cfg.Height)
	}
	dir := os.Getenv("SSECHAT_SCREENSHOTS")
	if dir == "" {
		dir = t.TempDir()
	}
	path := filepath.Join(dir, name+".png")
	if err := os.WriteFile(path, buf, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s", path)
}

// waitFor polls a JavaScript condition on the page until it holds.
func waitFor(t *testing.T, ctx context.Context, cond string) {
	t.Helper()
	if err := chromedp.Do(ctx, chromedp.Poll[chromedp.Void](cond)); err != nil {
		t.Fatalf("waiting for %s: %v", cond, err)
	}
}

func evalString(t *testing.T, ctx context.Context, expr string) string {
	t.Helper()
	s, err := chromedp.Run(ctx, chromedp.Evaluate[string](expr))
	if err != nil {
		t.Fatalf("%s: %v", expr, err)
	}
	return s
}

// ask types a message into the page and sends it.
func ask(t *testing.T, ctx context.Context, text string) {
	t.Helper()
	if err := chromedp.Do(ctx,
		chromedp.Evaluate[chromedp.Void](recordFrames),
		chromedp.SetValue(chromedp.ID("input"), text),
		chromedp.Click(chromedp.ID("send")),
	); err != nil {
		t.Fatal(err)
	}
}

const lastAnswer = `document.querySelector('#messages .assistant:last-of-type .text').textContent`

func TestBrowserPage(t *testing.T) {
	ctx := browser(t)
	// The server's default detach grace: the page's stop must stop the
	// generation itself (POST /chat/stop), not leave it to the disconnect.
	chatURL, logs, stop := start(t, []string{"-mock-delay", "25ms"}, nil)
	page := strings.TrimSuffix(chatURL, "chat")
	if err := chromedp.Do(ctx, chromedp.Navigate(page), chromedp.WaitVisible(chromedp.ID("input"))); err != nil {
		t.Fatal(err)
	}

	t.Run("typewriter", func(t *testing.T) {
		text := "你好！这是一个流式回答 👩‍👩‍👧‍👦, with e\u0301 and \"quotes\".\nSecond line: data: not a field."
		ask(t, ctx, "Type "+text)
		waitFor(t, ctx, `window.frames_.length >= 4 && document.querySelector('#status').dataset.state === 'streaming'`)
		screenshot(t, ctx, "mid-stream")
		waitFor(t, ctx, `document.querySelector('#status').dataset.state === 'done'`)
		screenshot(t, ctx, "end")
		want := "Type " + text
		if got := evalString(t, ctx, lastAnswer); got != want {
			t.Fatalf("final text %q, want %q", got, want)
		}
		frames, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](`window.frames_`))
		if err != nil {
			t.Fatal(err)
		}
		partial := 0
		for _, f := range frames {
			if !strings.HasPrefix(want, f) {
				t.Fatalf("painted %q, not a prefix of the answer", f)
			}
			if f != "" && f != want {
				partial++
			}
		}
		if partial < 5 {
			t.Fatalf("only %d paints before the end: %q", partial, frames)
		}
		t.Logf("%d paints before the end", partial)
	})

	t.Run("stop", func(t *testing.T) {
		text := "a long answer that the user stops: " + strings.Repeat("长", 300)
		ask(t, ctx, text)
		waitFor(t, ctx, `window.frames_.length >= 3`)
		if err := chromedp.Do(ctx, chromedp.Click(chromedp.ID("stop"))); err != nil {
			t.Fatal(err)
		}
		waitFor(t, ctx, `document.querySelector('#status').dataset.state === 'stopped'`)
		got := evalString(t, ctx, lastAnswer)
		if len(got) == 0 || len(got) >= len(text) || !strings.HasPrefix(text, got) {
			t.Fatalf("stopped answer %q", got)
		}
		if note := evalString(t, ctx, `document.querySelector('#messages .assistant:last-of-type .note').textContent`); note != "Stopped" {
			t.Fatalf("note %q", note)
		}
		// The page asked the server to stop the generation, which ends at
		// once (the mock would otherwise reach the end seconds later, as
		// "completed").
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		for deadline := time.Now().Add(10 * time.Second); !strings.Contains(logs.String(), "end=stopped"); <-tick.C {
			if time.Now().After(deadline) {
				t.Fatalf("the server did not log end=stopped:\n%s", logs)
			}
		}
		if err := stop(); err != nil {
			t.Fatal(err)
		}
	})
}

func TestBrowserPageErrors(t *testing.T) {
	ctx := browser(t)
	up := httptest.NewServer(&fakeopenai.Server{})
	t.Cleanup(up.Close)
	chatURL, _, _ := start(t, nil, map[string]string{"OPENAI_API_KEY": "sk-example", "OPENAI_BASE_URL": up.URL + "/v1"})
	if err := chromedp.Do(ctx, chromedp.Navigate(strings.TrimSuffix(chatURL, "chat")), chromedp.WaitVisible(chromedp.ID("input"))); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		ask, code string
		text      bool // text arrived before the error
	}{
		{"status 429", "rate_limited", false},
		{"status 401", "upstream_error", false},
		{fakeopenai.ScriptMidError, "", true},
	} {
		ask(t, ctx, c.ask)
		waitFor(t, ctx, `document.querySelector('#status').dataset.state === 'error'`)
		msg := evalString(t, ctx, `document.querySelector('#error').hidden ? '' : document.querySelector('#error').textContent`)
		if msg == "" || !strings.Contains(msg, "("+c.code) || strings.Contains(msg, "sk-example") {
			t.Errorf("%s: error shown %q, want code %q", c.ask, msg, c.code)
		}
		if got := evalString(t, ctx, lastAnswer); (got != "") != c.text {
			t.Errorf("%s: answer text %q", c.ask, got)
		}
		if c.ask == fakeopenai.ScriptMidError {
			screenshot(t, ctx, "error")
		}
	}
}

// TestBrowserEventSource follows a stream with a real EventSource: the page
// starts a stream with fetch and drops it at once (the server detaches), then
// follows it by id with GET. The server rotates each response after 300 ms;
// EventSource reconnects on its own with Last-Event-ID, and after the done
// event the server's 204 makes it stop reconnecting.
func TestBrowserEventSource(t *testing.T) {
	ctx := browser(t)
	chatURL, _, _ := start(t, []string{"-mock-delay", "10ms", "-detach", "1m", "-max-response", "300ms"}, nil)
	if err := chromedp.Do(ctx, chromedp.Navigate(strings.TrimSuffix(chatURL, "chat"))); err != nil {
		t.Fatal(err)
	}
	text := strings.Repeat("EventSource 续传 👋🏽 ", 20)
	script := `(() => {
  const s = window.es_ = { opens: 0, text: '', ids: [], reconnects: 0, done: false, closed: false, err: '' };
  const ctl = new AbortController();
  fetch('/chat', { method: 'POST', headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ messages: [{ role: 'user', content: ` + jsString(text) + ` }] }), signal: ctl.signal })
    .then(async (res) => {
      const { value } = await res.body.getReader().read();
      const m = /id: ([A-Z2-7]{26})\.0/.exec(new TextDecoder().decode(value));
      ctl.abort();
      const es = new EventSource('/chat?stream_id=' + m[1]);
      es.onopen = () => s.opens++;
      const id = (e) => s.ids.push(e.lastEventId);
      es.addEventListener('start', id);
      es.addEventListener('delta', (e) => { id(e); s.text += JSON.parse(e.data).text; });
      es.addEventListener('reconnect', () => s.reconnects++);
      es.addEventListener('done', (e) => { id(e); s.done = true; });
      es.onerror = () => { if (es.readyState === EventSource.CLOSED) s.closed = true; };
    })
    .catch((e) => { s.err = String(e); });
})()`
	if err := chromedp.Do(ctx, chromedp.Evaluate[chromedp.Void](script)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, ctx, `window.es_.closed || window.es_.err !== ''`)
	type result struct {
		Opens, Reconnects int
		Text, Err         string
		IDs               []string
		Done, Closed      bool
	}
	r, err := chromedp.Run(ctx, chromedp.Evaluate[result](`({Opens: es_.opens, Reconnects: es_.reconnects, Text: es_.text, Err: es_.err, IDs: es_.ids, Done: es_.done, Closed: es_.closed})`))
	if err != nil {
		t.Fatal(err)
	}
	if r.Err != "" || !r.Done || r.Text != text {
		t.Fatalf("EventSource: error %q, done %v, text %q", r.Err, r.Done, r.Text)
	}
	if r.Reconnects < 2 || r.Opens != r.Reconnects+1 {
		t.Fatalf("%d rotations, %d opens", r.Reconnects, r.Opens)
	}
	for i, id := range r.IDs {
		if !strings.HasSuffix(id, "."+strconv.Itoa(i)) {
			t.Fatalf("event %d has id %q: events were lost or repeated", i, id)
		}
	}
}

// jsString is s as a JavaScript string literal.
func jsString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// TestBrowserPageParts: with a reasoning model that calls a tool, the page
// shows the thinking as it streams in an open block above the answer, a
// line for the tool call while it runs and what it gave, then the answer;
// the thinking folds once the answer is complete and a click opens it.
func TestBrowserPageParts(t *testing.T) {
	ctx := browser(t)
	chatURL, _, _ := start(t, []string{"-mock-delay", "40ms", "-mock-reasoning", "-mock-tools"}, nil)
	if err := chromedp.Do(ctx, chromedp.Navigate(strings.TrimSuffix(chatURL, "chat")), chromedp.WaitVisible(chromedp.ID("input"))); err != nil {
		t.Fatal(err)
	}
	const msg = "数一数这句话有几个字 👩‍👩‍👧‍👦"
	ask(t, ctx, msg)
	const last = `document.querySelector('#messages .assistant:last-of-type')`
	waitFor(t, ctx, last+` && `+last+`.querySelector('.reasoning[open] .reasoning-text') && `+last+`.querySelector('.reasoning-text').textContent.length > 20`)
	if got := evalString(t, ctx, last+`.querySelector('.reasoning summary').textContent`); got != "Thinking…" {
		t.Fatalf("summary while thinking %q", got)
	}
	screenshot(t, ctx, "parts-thinking")
	waitFor(t, ctx, last+`.querySelector('.tool') !== null`)
	screenshot(t, ctx, "parts-tool")
	waitFor(t, ctx, `document.querySelector('#status').dataset.state === 'done'`)
	screenshot(t, ctx, "parts-answer")
	n := len([]rune(msg))
	checks := map[string]string{
		lastAnswer: fmt.Sprintf("Your message has %d characters.", n),
		last + `.querySelector('.reasoning-text').textContent`:         "Thinking about: " + msg,
		last + `.querySelector('.reasoning summary').textContent`:      "Thought",
		last + `.querySelector('.reasoning').open ? 'open' : 'folded'`: "folded",
		last + `.querySelector('.tool').textContent`:                   fmt.Sprintf(`message_length → {"characters":%d}`, n),
	}
	for expr, want := range checks {
		if got := evalString(t, ctx, expr); got != want {
			t.Errorf("%s = %q, want %q", expr, got, want)
		}
	}
	if err := chromedp.Do(ctx, chromedp.Click(`#messages .assistant:last-of-type .reasoning summary`)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, ctx, last+`.querySelector('.reasoning').open`)
	screenshot(t, ctx, "parts-opened")
}

// TestBrowserPageLabelAndFilter: every answer carries the "AI-generated"
// label, and an answer that the blocklist cut off is shown as filtered,
// without the word.
func TestBrowserPageLabelAndFilter(t *testing.T) {
	ctx := browser(t)
	list := filepath.Join(t.TempDir(), "blocklist.txt")
	if err := os.WriteFile(list, []byte("敏感词\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	chatURL, _, _ := start(t, []string{"-mock-delay", "10ms", "-blocklist", list}, nil)
	if err := chromedp.Do(ctx, chromedp.Navigate(strings.TrimSuffix(chatURL, "chat")), chromedp.WaitVisible(chromedp.ID("input"))); err != nil {
		t.Fatal(err)
	}
	const last = `document.querySelector('#messages .assistant:last-of-type')`
	ask(t, ctx, "第一句话。这里有敏感词，不该显示")
	waitFor(t, ctx, `document.querySelector('#status').dataset.state === 'error'`)
	screenshot(t, ctx, "filtered")
	if got := evalString(t, ctx, lastAnswer); got == "" || strings.Contains(got, "敏") || !strings.HasPrefix("第一句话。这里有", got) {
		t.Fatalf("filtered answer shows %q", got)
	}
	if got := evalString(t, ctx, last+`.querySelector('.note').textContent`); !strings.HasPrefix(got, "Filtered") {
		t.Fatalf("note %q", got)
	}
	if got := evalString(t, ctx, last+`.querySelector('.ai-label').textContent`); got != "AI-generated" {
		t.Fatalf("label %q", got)
	}
}
