package main

import (
	"bytes"
	"encoding/json"
	"io/fs"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ssechat/ssechat/chat"
	"github.com/ssechat/ssechat/internal/fakeopenai"
	"github.com/ssechat/ssechat/internal/servertest"
)

// TestMiniProgramClient runs the mini program client's Node tests
// (examples/miniprogram/test) against this server: one with the mock and
// no delay, one whose mock is slow enough to abort mid-stream, and one
// that streams from a fake OpenAI upstream.
func TestMiniProgramClient(t *testing.T) {
	node := servertest.Tool(t, "node")
	// The fast server keeps the default detach grace, so a cut response
	// resumes whether or not its generation has finished; the slow one
	// cancels at once, for the abort tests.
	fast, _, _ := start(t, []string{"-mock-delay", "0"}, nil)
	slow, slowLogs, stopSlow := start(t, []string{"-mock-delay", "50ms", "-detach", "0"}, nil)
	up := httptest.NewServer(&fakeopenai.Server{})
	t.Cleanup(up.Close)
	upstream, _, _ := start(t, nil, map[string]string{
		"OPENAI_API_KEY":  "sk-example",
		"OPENAI_BASE_URL": up.URL + "/v1",
	})
	// Resumable: generations outlive their clients for a minute, and
	// responses rotate every 400 ms (50 s in production).
	resume, resumeLogs, stopResume := start(t, []string{"-mock-delay", "10ms", "-detach", "1m", "-max-response", "400ms"}, nil)
	// The mock thinks aloud and calls a tool.
	parts, _, _ := start(t, []string{"-mock-delay", "0", "-mock-reasoning", "-mock-tools"}, nil)
	slowParts, _, _ := start(t, []string{"-mock-delay", "20ms", "-mock-reasoning", "-mock-tools"}, nil)
	list := filepath.Join(t.TempDir(), "blocklist.txt")
	if err := os.WriteFile(list, []byte("敏感词\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	filtered, _, _ := start(t, []string{"-mock-delay", "5ms", "-blocklist", list, "-retract", "该回答已被过滤"}, nil)

	files, err := filepath.Glob("../miniprogram/test/*.test.js")
	if err != nil || len(files) == 0 {
		t.Fatalf("no Node tests found: %v", err)
	}
	touchSources(t, "../miniprogram")
	cmd := exec.Command(node, append([]string{"--test", "--test-reporter=spec"}, files...)...)
	cmd.Env = append(os.Environ(),
		"SSECHAT_URL="+fast, "SSECHAT_SLOW_URL="+slow, "SSECHAT_UPSTREAM_URL="+upstream,
		"SSECHAT_RESUME_URL="+resume, "SSECHAT_PARTS_URL="+parts, "SSECHAT_SLOW_PARTS_URL="+slowParts, "SSECHAT_FILTER_URL="+filtered, "NO_COLOR=1")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		t.Fatalf("node --test: %v\n%s", err, out.String())
	}
	for _, line := range strings.Split(out.String(), "\n") {
		if strings.HasPrefix(line, "ℹ") || strings.Contains(line, "streams,") {
			t.Log(strings.TrimSpace(line))
		}
	}

	// The abort test's stream ended on the server as the client leaving.
	if err := stopSlow(); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(slowLogs.String(), "end=client_gone") {
		t.Fatalf("the slow server did not see the client leave:\n%s", slowLogs)
	}
	// stop() stopped its generation; the detached ones of the exhaustion
	// test were still running when the server shut down.
	if err := stopResume(); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(resumeLogs.String(), "end=stopped") {
		t.Fatalf("the resume server did not stop a generation:\n%s", resumeLogs)
	}
}

// touchSources reads every JavaScript, TypeScript and JSON file under dir, so that go test's
// result cache, which knows only the files the test process opens, runs
// the test again when one of them changes.
func touchSources(t *testing.T, dir string) {
	t.Helper()
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && d.Name() == "node_modules" {
			return filepath.SkipDir
		}
		if ext := filepath.Ext(path); d.IsDir() || ext != ".js" && ext != ".ts" && ext != ".json" {
			return nil
		}
		_, err = os.ReadFile(path)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestNodeClients runs examples/nodeclients' Node tests, which drive this
// server's OpenAI API with real third-party JavaScript clients (the openai
// npm package): against the mock with reasoning and its own tool call, and
// against a fake OpenAI upstream whose model calls the client's tools.
func TestNodeClients(t *testing.T) {
	node := servertest.Tool(t, "node")
	url, _, _ := start(t, []string{"-mock-delay", "0", "-mock-reasoning", "-mock-tools"}, nil)
	up := httptest.NewServer(&fakeopenai.Server{})
	t.Cleanup(up.Close)
	relay, _, _ := start(t, nil, map[string]string{"OPENAI_API_KEY": "sk-example", "OPENAI_BASE_URL": up.URL + "/v1"})
	// Keep-alive comments between the slow server's events.
	slow, slowLogs, stopSlow := start(t, []string{"-mock-delay", "10ms", "-mock-reasoning", "-mock-tools", "-keepalive", "3ms"}, nil)
	quick, _, _ := start(t, []string{"-mock-delay", "1ms", "-mock-reasoning", "-mock-tools"}, nil)
	captured := t.TempDir()
	dir := "../nodeclients"
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "openai")); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("run npm ci --prefix examples/nodeclients first: %v", err)
		}
		t.Skipf("run npm ci --prefix examples/nodeclients first: %v", err)
	}
	files, err := filepath.Glob(filepath.Join(dir, "test", "*.test.mjs"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no Node tests found: %v", err)
	}
	cmd := exec.Command(node, append([]string{"--test", "--test-reporter=spec"}, files...)...)
	base := func(u string) string { return strings.TrimSuffix(u, "/chat") }
	cmd.Env = append(os.Environ(), "SSECHAT_V1_URL="+base(url)+"/v1", "SSECHAT_V1_UPSTREAM_URL="+base(relay)+"/v1",
		"SSECHAT_UI_URL="+base(url)+"/api/chat", "SSECHAT_UI_SLOW_URL="+base(slow)+"/api/chat", "SSECHAT_UI_QUICK_URL="+base(quick)+"/api/chat",
		"SSECHAT_UI_UPSTREAM_URL="+base(relay)+"/api/chat", "SSECHAT_CAPTURE_DIR="+captured, "NO_COLOR=1")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		t.Fatalf("node --test: %v\n%s", err, out.String())
	}
	t.Log(out.String())

	// The stop by chat id ended a generation on the server.
	if err := stopSlow(); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(slowLogs.String(), "end=stopped") {
		t.Fatalf("no stopped stream in the logs:\n%s", slowLogs)
	}
	// The body useChat sent for a second turn, as the package made it,
	// decodes into the conversation: the user's text, the answer with its
	// tool call (made a call and a tool message), the new question.
	b, err := os.ReadFile(filepath.Join(captured, "usechat-body.json"))
	if err != nil {
		t.Fatal(err)
	}
	var req chat.Request
	if err := json.Unmarshal(b, &req); err != nil {
		t.Fatal(err)
	}
	req.Op = chat.OpStart
	if err := req.Validate(); err != nil {
		t.Fatal(err)
	}
	t.Logf("useChat's body: %s", b)
	if req.ID != "chat-two-turns" || req.Trigger != "submit-message" {
		t.Fatalf("id %q trigger %q", req.ID, req.Trigger)
	}
	var got []string
	for _, m := range req.Messages {
		s := string(m.Role) + ":" + m.Content
		for _, c := range m.ToolCalls {
			s += " call " + c.ID + " " + c.Name + " " + c.Arguments
		}
		if m.ToolCallID != "" {
			s += " for " + m.ToolCallID
		}
		got = append(got, s)
	}
	want := []string{
		"user:你好 👋🏽 e\u0301",
		"assistant:Your message has 8 characters. call call_1 message_length {\"text\":\"你好 👋🏽 e\u0301\"}",
		`tool:{"characters":8} for call_1`,
		"user:and again",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("decoded:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
