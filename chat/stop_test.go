package chat_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	gosse "github.com/tmaxmax/go-sse"

	"github.com/ssechat/ssechat/chat"
	"github.com/ssechat/ssechat/chat/chattest"
)

// ownerPrepare takes the owner from an X-User header, as a real hook takes
// it from a session; without one the request is refused.
func ownerPrepare(ops chan<- chat.Op) chat.PrepareFunc {
	return func(r *http.Request, req *chat.Request) error {
		if ops != nil {
			ops <- req.Op
		}
		user := r.Header.Get("X-User")
		if user == "" {
			return chat.NewError(chat.CodeUnauthenticated, "sign in first")
		}
		req.Owner = user
		return nil
	}
}

// openStream starts a stream as user and returns its stream id once the
// first delta arrived, with the still open body.
func openStream(t *testing.T, srv *httptest.Server, user string) (string, *http.Response) {
	t.Helper()
	req, _ := http.NewRequest("POST", srv.URL+"/chat", strings.NewReader(`{"messages":[{"role":"user","content":"hi"}]}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-User", user)
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	for ev, err := range gosse.Read(resp.Body, nil) {
		if err != nil {
			t.Fatal(err)
		}
		if ev.Type == chat.EventDelta {
			id, _, _ := strings.Cut(ev.LastEventID, ".")
			return id, resp
		}
	}
	t.Fatal("no delta")
	return "", nil
}

func stopReq(t *testing.T, srv *httptest.Server, user, body string) *chattest.Stream {
	t.Helper()
	req, _ := http.NewRequest("POST", srv.URL+"/chat/stop", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if user != "" {
		req.Header.Set("X-User", user)
	}
	return send(t, srv.Client(), req)
}

// TestStop: a stop request cancels the generation whatever the policy; the
// client following the stream gets its terminal event; only the owner may
// stop; the finish hook says stopped.
func TestStop(t *testing.T) {
	for _, grace := range []time.Duration{0, time.Minute} {
		t.Run(grace.String(), func(t *testing.T) {
			p := &chattest.Provider{Tokens: []string{"partial "}, Block: true}
			results := make(chan *chat.Result, 1)
			h := chat.NewHandler(p, chat.WithDetach(grace), chat.WithPrepare(ownerPrepare(nil)),
				chat.WithFinish(func(_ context.Context, res *chat.Result) { results <- res }))
			mux := http.NewServeMux()
			mux.Handle("/chat", h)
			mux.Handle("/chat/stop", h.StopHandler())
			srv := httptest.NewServer(mux)
			defer srv.Close()

			id, resp := openStream(t, srv, "alice")
			defer resp.Body.Close()
			if s := stopReq(t, srv, "bob", `{"stream_id":"`+id+`"}`); s.Status != 403 || s.Error.Code != chat.CodePermissionDenied {
				t.Fatalf("stop by another owner: %d %+v", s.Status, s.Error)
			}
			if s := stopReq(t, srv, "", `{"stream_id":"`+id+`"}`); s.Status != 401 {
				t.Fatalf("stop without a user: %d %+v", s.Status, s.Error)
			}
			if s := stopReq(t, srv, "alice", `{"stream_id":"`+id+`"}`); s.Status != 204 {
				t.Fatalf("stop: %d %+v", s.Status, s.Error)
			}
			rest, err := chattest.Read(resp)
			if err != nil {
				t.Fatal(err)
			}
			if rest.Error == nil || rest.Error.Code != chat.CodeCanceled || rest.Terminals != 1 {
				t.Fatalf("after the stop the client got %+v", rest.Events)
			}
			<-p.Canceled()
			if res := <-results; res.End != chat.EndStopped || res.Text != "partial " {
				t.Fatalf("result: end %s text %q", res.End, res.Text)
			}
			// Stopping again, or a finished stream, is not an error.
			if s := stopReq(t, srv, "alice", `{"stream_id":"`+id+`.3"}`); s.Status != 204 {
				t.Fatalf("second stop: %d %+v", s.Status, s.Error)
			}
		})
	}
}

func TestStopErrors(t *testing.T) {
	h := chat.NewHandler(&chattest.Provider{}, chat.WithPrepare(ownerPrepare(nil)))
	mux := http.NewServeMux()
	mux.Handle("/chat/stop", h.StopHandler())
	srv := httptest.NewServer(mux)
	defer srv.Close()
	for _, tt := range []struct {
		name, body string
		status     int
		code       chat.Code
	}{
		{"unknown", `{"stream_id":"NOSUCHSTREAM"}`, 404, chat.CodeStreamExpired},
		{"missing", `{}`, 400, chat.CodeBadRequest},
		{"malformed id", `{"stream_id":"a b"}`, 400, chat.CodeBadRequest},
		{"malformed JSON", `{`, 400, chat.CodeBadRequest},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if s := stopReq(t, srv, "alice", tt.body); s.Status != tt.status || s.Error.Code != tt.code {
				t.Fatalf("%d %+v", s.Status, s.Error)
			}
		})
	}
	// A stop must not be a "simple" request that any web page can send
	// cross-site (a form or a text/plain fetch needs no preflight): it
	// takes application/json, also with the id in the query.
	for _, ct := range []string{"text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", ""} {
		req, _ := http.NewRequest("POST", srv.URL+"/chat/stop?stream_id=NOSUCHSTREAM", strings.NewReader("stream_id=NOSUCHSTREAM"))
		if ct != "" {
			req.Header.Set("Content-Type", ct)
		}
		resp, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		if s, _ := chattest.Read(resp); s.Status != 415 || s.Error.Code != chat.CodeUnsupportedMediaType {
			t.Fatalf("a stop with Content-Type %q: %d %+v", ct, s.Status, s.Error)
		}
	}
	resp, err := srv.Client().Get(srv.URL + "/chat/stop?stream_id=X")
	if err != nil {
		t.Fatal(err)
	}
	if s, _ := chattest.Read(resp); s.Status != 405 || s.Header.Get("Allow") != "POST" {
		t.Fatalf("GET: %d", s.Status)
	}
	if err := h.Stop(context.Background(), "NOSUCHSTREAM"); err == nil {
		t.Fatal("Stop of an unknown stream succeeded")
	} else if e := (*chat.Error)(nil); !errors.As(err, &e) || e.Code != chat.CodeStreamExpired {
		t.Fatalf("Stop: %v", err)
	}
}

// TestStopMethod: Go callers stop a stream by id.
func TestStopMethod(t *testing.T) {
	p := &chattest.Provider{Tokens: []string{"partial "}, Block: true}
	h := chat.NewHandler(p, chat.WithPrepare(ownerPrepare(nil)))
	mux := http.NewServeMux()
	mux.Handle("/chat", h)
	srv := httptest.NewServer(mux)
	defer srv.Close()
	id, resp := openStream(t, srv, "alice")
	if err := h.Stop(context.Background(), id); err != nil {
		t.Fatal(err)
	}
	rest, err := chattest.Read(resp)
	if err != nil || rest.Error == nil || rest.Error.Code != chat.CodeCanceled {
		t.Fatalf("after Stop: %v %+v", err, rest.Events)
	}
	<-p.Canceled()
}

// TestResumeOwner: the prepare hook runs for a resume, with Op and
// StreamID set; another owner is refused.
func TestResumeOwner(t *testing.T) {
	ops := make(chan chat.Op, 10)
	p := &chattest.Provider{Tokens: []string{"a", "b"}}
	h := chat.NewHandler(p, chat.WithPrepare(ownerPrepare(ops)))
	mux := http.NewServeMux()
	mux.Handle("/chat", h)
	srv := httptest.NewServer(mux)
	defer srv.Close()
	id, resp := openStream(t, srv, "alice")
	if _, err := chattest.Read(resp); err != nil {
		t.Fatal(err)
	}
	resume := func(user string) *chattest.Stream {
		req, _ := http.NewRequest("GET", srv.URL+"/chat?stream_id="+id, nil)
		req.Header.Set("X-User", user)
		return send(t, srv.Client(), req)
	}
	if s := resume("bob"); s.Status != 403 || s.Error.Code != chat.CodePermissionDenied {
		t.Fatalf("resume by another owner: %d %+v", s.Status, s.Error)
	}
	if s := resume("alice"); s.Status != 200 || s.Text != "ab" || s.Done == nil {
		t.Fatalf("resume by the owner: %d %q", s.Status, s.Text)
	}
	if got := []chat.Op{<-ops, <-ops, <-ops}; got[0] != chat.OpStart || got[1] != chat.OpResume || got[2] != chat.OpResume {
		t.Fatalf("prepare saw %v", got)
	}
	if p.Calls() != 1 {
		t.Fatalf("the provider was called %d times; a resume must not call it", p.Calls())
	}
}

// TestRotation: responses end after the maximum duration with a reconnect
// event; resuming with its id each time gives the whole answer, with
// every event once.
func TestRotation(t *testing.T) {
	tokens := strings.Split(strings.Repeat("tok ", 40), " ")[:40]
	p := &chattest.Provider{Tokens: tokens, Delay: 5 * time.Millisecond}
	h := chat.NewHandler(p, chat.WithMaxResponse(20*time.Millisecond))
	srv := httptest.NewServer(h)
	defer srv.Close()
	s := post(t, srv, "", chattest.UserMessage("hi"))
	text, n, responses := s.Text, 0, 1
	for s.Terminals == 0 {
		if s.Reconnect == nil || s.Reconnect.LastEventID != s.LastEventID {
			t.Fatalf("response %d ended without a terminal or a reconnect event: %+v", responses, s.Events)
		}
		for _, ev := range s.Events {
			if ev.Name == chat.EventReconnect {
				continue
			}
			if seqOf(t, ev.ID) != n {
				t.Fatalf("event %q, want .%d", ev.ID, n)
			}
			n++
		}
		var err error
		if s, err = chattest.Resume(srv.Client(), srv.URL, s.Reconnect.LastEventID); err != nil {
			t.Fatal(err)
		}
		text += s.Text
		responses++
	}
	if text != strings.Join(tokens, "") || s.Done == nil || responses < 2 {
		t.Fatalf("%d responses, text %q", responses, text)
	}
	if p.Calls() != 1 {
		t.Fatalf("%d generations", p.Calls())
	}
}

// TestEventSourceForm: GET follows a stream by id (EventSource), and after
// its end answers 204 so that an EventSource stops reconnecting.
func TestEventSourceForm(t *testing.T) {
	h := chat.NewHandler(&chattest.Provider{Tokens: []string{"a", "b"}})
	srv := httptest.NewServer(h)
	defer srv.Close()
	full := post(t, srv, "", chattest.UserMessage("hi"))
	id := checkIDs(t, full)
	resp, err := srv.Client().Get(srv.URL + "?stream_id=" + id)
	if err != nil {
		t.Fatal(err)
	}
	s, err := chattest.Read(resp)
	if err != nil || s.Text != "ab" || len(s.Events) != len(full.Events) {
		t.Fatalf("GET: %v %q", err, s.Text)
	}
	req, _ := http.NewRequest("GET", srv.URL+"?stream_id="+id, nil)
	req.Header.Set("Last-Event-ID", full.LastEventID) // what EventSource sends when it reconnects
	resp, err = srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.Body.Close(); resp.StatusCode != http.StatusNoContent {
		t.Fatalf("reconnect after the end: %d", resp.StatusCode)
	}
}
