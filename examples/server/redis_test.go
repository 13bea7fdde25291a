package main

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	gosse "github.com/tmaxmax/go-sse"

	"github.com/ssechat/ssechat/chat"
	"github.com/ssechat/ssechat/chat/chattest"
	"github.com/ssechat/ssechat/internal/redistest"
	"github.com/ssechat/ssechat/internal/servertest"
)

// buildServer builds this command once per test into a temporary directory.
func buildServer(t *testing.T) string {
	t.Helper()
	goBin := servertest.Tool(t, "go")
	bin := filepath.Join(t.TempDir(), "server")
	if out, err := exec.Command(goBin, "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

var listenURL = regexp.MustCompile(` url=(\S+)`)

// process runs the built server as its own process on a free port, and
// returns its /chat URL, its log, and a function that stops it with
// SIGINT and waits for it.
func process(t *testing.T, bin string, args ...string) (string, *syncBuffer, func()) {
	url, logs, stop, _ := processKill(t, bin, args...)
	return url, logs, stop
}

// processKill is process, and also returns a function that kills the
// process (SIGKILL: no drain, no cleanup) and waits for it.
func processKill(t *testing.T, bin string, args ...string) (string, *syncBuffer, func(), func()) {
	t.Helper()
	cmd := exec.Command(bin, append([]string{"-addr", "127.0.0.1:0"}, args...)...)
	cmd.Env = append(os.Environ(), "OPENAI_API_KEY=", "OTEL_TRACES_EXPORTER=", "OTEL_METRICS_EXPORTER=")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	logs := &syncBuffer{}
	urlc := make(chan string, 1)
	done := make(chan struct{})
	go func() {
		defer close(done)
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			logs.Write([]byte(sc.Text() + "\n"))
			if m := listenURL.FindStringSubmatch(sc.Text()); m != nil {
				urlc <- m[1]
			}
		}
		io.Copy(io.Discard, stderr)
	}()
	stopped := false
	end := func(sig os.Signal) {
		if stopped {
			return
		}
		stopped = true
		_ = cmd.Process.Signal(sig)
		<-done
		_ = cmd.Wait()
	}
	stop := func() { end(os.Interrupt) }
	t.Cleanup(stop)
	select {
	case u := <-urlc:
		return u, logs, stop, func() { end(os.Kill) }
	case <-done:
		t.Fatalf("the server exited:\n%s", logs)
	}
	return "", nil, nil, nil
}

// readSome posts to url and returns the text and last event id after n
// deltas, then drops the connection.
func readSome(t *testing.T, url, text string, n int) (string, string) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "POST", url, strings.NewReader(`{"messages":[{"role":"user","content":"`+text+`"}]}`))
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var got strings.Builder
	for ev, err := range gosse.Read(resp.Body, nil) {
		if err != nil {
			t.Fatal(err)
		}
		if ev.Type != chat.EventDelta {
			continue
		}
		var d chat.TextData
		if err := (chattest.Event{Data: ev.Data}).Decode(&d); err != nil {
			t.Fatal(err)
		}
		got.WriteString(d.Text)
		if n--; n == 0 {
			return got.String(), ev.LastEventID
		}
	}
	t.Fatal("the stream ended early")
	return "", ""
}

// TestTwoInstancesShareRedis runs two server processes on one Redis: a
// stream started on one and dropped resumes on the other, exactly; a stop
// sent to one cancels the generation running on the other.
func TestTwoInstancesShareRedis(t *testing.T) {
	redisURL := redistest.URL(t)
	bin := buildServer(t)
	args := []string{"-redis", redisURL, "-mock-delay", "20ms", "-detach", "1m"}
	a, aLogs, stopA := process(t, bin, args...)
	b, bLogs, stopB := process(t, bin, args...)

	text := "跨实例续传：一个在 A 上开始的回答，在 B 上接着读完，一字不差。 ✅👍🏽"
	prefix, last := readSome(t, a, text, 3)
	s, err := chattest.Resume(http.DefaultClient, b, last)
	if err != nil {
		t.Fatal(err)
	}
	if prefix+s.Text != text || s.Done == nil || s.Terminals != 1 {
		t.Fatalf("resumed on B: %q + %q, error %+v", prefix, s.Text, s.Error)
	}

	long := strings.Repeat("long answer ", 30) // 120 chunks of 20 ms
	_, last = readSome(t, a, long, 1)
	id, _, _ := strings.Cut(last, ".")
	stop, err := http.Post(strings.TrimSuffix(b, "/chat")+"/chat/stop", "application/json", strings.NewReader(`{"stream_id":"`+id+`"}`))
	if err != nil {
		t.Fatal(err)
	}
	stop.Body.Close()
	if stop.StatusCode != http.StatusNoContent {
		t.Fatalf("stop on B: %d", stop.StatusCode)
	}
	// The stopped stream's log ends with its terminal event, readable on B.
	s, err = chattest.Resume(http.DefaultClient, b, last)
	if err != nil {
		t.Fatal(err)
	}
	if s.Error == nil || s.Error.Code != chat.CodeCanceled || s.Done != nil {
		t.Fatalf("after the stop: error %+v, done %+v", s.Error, s.Done)
	}
	stopA()
	stopB()
	if l := aLogs.String(); !strings.Contains(l, "stream="+id+" end=stopped") {
		t.Fatalf("A did not log the stop of %s:\n%s", id, l)
	}
	if l := aLogs.String() + bLogs.String(); !strings.Contains(l, "store=redis") || strings.Count(l, "stream end") != 2 {
		t.Fatalf("logs:\n%s", l)
	}
}

// TestKilledInstanceIsNoticed: when the instance that runs a generation is
// killed (no drain), a reader following the stream on another instance gets
// a clear, retryable error within seconds, instead of keep-alives until
// the keys expire.
func TestKilledInstanceIsNoticed(t *testing.T) {
	redisURL := redistest.URL(t)
	bin := buildServer(t)
	args := []string{"-redis", redisURL, "-mock-delay", "50ms", "-detach", "1m"}
	a, _, _, killA := processKill(t, bin, args...)
	b, _, _ := process(t, bin, args...)

	text := strings.Repeat("一个在 A 上生成、在 B 上读的长回答。", 30)
	_, last := readSome(t, a, text, 2)
	// Without the check B would wait until the keys expire (an hour).
	client := &http.Client{Timeout: 20 * time.Second}
	resp, err := client.Do(func() *http.Request {
		req, _ := http.NewRequest(http.MethodPost, b, nil)
		req.Header.Set("Last-Event-ID", last)
		return req
	}())
	if err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(resp.Body)
	var head strings.Builder
	for line := ""; line != "event: delta\n"; { // B follows A's live generation
		if line, err = br.ReadString('\n'); err != nil {
			t.Fatalf("B's stream (status %d) ended before a delta: %v\n%s", resp.StatusCode, err, head.String())
		}
		head.WriteString(line)
	}
	killA()
	killed := time.Now()
	resp.Body = io.NopCloser(br)
	s, err := chattest.Read(resp)
	if err != nil {
		t.Fatal(err)
	}
	if s.Terminals != 1 || s.Error == nil || s.Error.Code != chat.CodeUnavailable || !s.Error.Retryable || s.Done != nil {
		t.Fatalf("after A was killed: terminals %d, error %+v, done %+v", s.Terminals, s.Error, s.Done)
	}
	t.Logf("B's reader got %q %.1fs after A was killed", s.Error.Message, time.Since(killed).Seconds())
}
