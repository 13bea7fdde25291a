package sse_test

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	gosse "github.com/tmaxmax/go-sse"

	"github.com/ssechat/ssechat/sse"
)

// parse reads a stream with go-sse's spec parser.
func parse(t testing.TB, wire []byte) []gosse.Event {
	t.Helper()
	var evs []gosse.Event
	for ev, err := range gosse.Read(bytes.NewReader(wire), &gosse.ReadConfig{MaxEventSize: 1 << 20}) {
		if err != nil {
			t.Fatalf("parse %q: %v", wire, err)
		}
		evs = append(evs, ev)
	}
	return evs
}

// reference encodes e with go-sse's Message. Each line of e.Data becomes one
// data field; appending "\n" makes go-sse keep an empty last line (it drops
// one trailing newline), which is what an exact round trip needs.
func reference(t testing.TB, e *sse.Event) []byte {
	t.Helper()
	m := &gosse.Message{Retry: e.Retry}
	if e.ID != "" {
		m.ID = gosse.ID(e.ID)
	}
	if e.Name != "" {
		m.Type = gosse.Type(e.Name)
	}
	m.AppendComment(e.Comment)
	m.AppendData(string(e.Data) + "\n")
	b, err := m.MarshalText()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestAppendEvent(t *testing.T) {
	tests := []struct {
		name string
		ev   sse.Event
		wire string
	}{
		{"data only", sse.Event{Data: []byte(`{"text":"hi"}`)}, "data: {\"text\":\"hi\"}\n\n"},
		{"all fields", sse.Event{ID: "s.1", Name: "delta", Retry: 1500 * time.Millisecond, Comment: "note", Data: []byte("x")},
			"id: s.1\nevent: delta\nretry: 1500\n: note\ndata: x\n\n"},
		{"comment with colon", sse.Event{Comment: ": data: x", Data: []byte("y")}, ": : data: x\ndata: y\n\n"},
		{"empty data", sse.Event{Name: "ping"}, "event: ping\ndata: \n\n"},
		{"lines", sse.Event{Data: []byte("a\nb")}, "data: a\ndata: b\n\n"},
		{"empty lines", sse.Event{Data: []byte("a\n\n\nb")}, "data: a\ndata: \ndata: \ndata: b\n\n"},
		{"trailing newline", sse.Event{Data: []byte("a\n")}, "data: a\ndata: \n\n"},
		{"only newline", sse.Event{Data: []byte("\n")}, "data: \ndata: \n\n"},
		{"leading space", sse.Event{Data: []byte(" a")}, "data:  a\n\n"},
		{"leading colon", sse.Event{Data: []byte(":a")}, "data: :a\n\n"},
		{"looks like fields", sse.Event{Data: []byte("\nid: 9\nevent: x\n\ndata: y")}, "data: \ndata: id: 9\ndata: event: x\ndata: \ndata: data: y\n\n"},
		{"NUL in data", sse.Event{Data: []byte("a\x00b")}, "data: a\x00b\n\n"},
		{"NUL in name", sse.Event{Name: "a\x00", Data: []byte("x")}, "event: a\x00\ndata: x\n\n"},
		{"sub-millisecond retry", sse.Event{Retry: time.Microsecond, Data: []byte("x")}, "data: x\n\n"},
		{"unicode", sse.Event{ID: "流.1", Name: "δ", Data: []byte("你好👋🏽")}, "id: 流.1\nevent: δ\ndata: 你好👋🏽\n\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := sse.AppendEvent([]byte("prefix"), &tt.ev)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != "prefix"+tt.wire {
				t.Fatalf("wire:\n got %q\nwant %q", got, "prefix"+tt.wire)
			}
			if ref := reference(t, &tt.ev); !bytes.Equal(got[len("prefix"):], ref) {
				t.Fatalf("differs from go-sse:\n got %q\n go-sse %q", got, ref)
			}
			checkRoundTrip(t, &tt.ev, got[len("prefix"):])
		})
	}
}

func checkRoundTrip(t testing.TB, e *sse.Event, wire []byte) {
	t.Helper()
	evs := parse(t, wire)
	if len(evs) != 1 {
		t.Fatalf("%q parsed as %d events, want 1", wire, len(evs))
	}
	got := evs[0]
	if got.Data != string(e.Data) || got.Type != e.Name || got.LastEventID != e.ID {
		t.Fatalf("round trip of %+v gave %+v", e, got)
	}
}

func TestAppendEventRejects(t *testing.T) {
	tests := []struct {
		name string
		ev   sse.Event
	}{
		{"LF in id", sse.Event{ID: "a\nid: b"}},
		{"CR in id", sse.Event{ID: "a\rb"}},
		{"NUL in id", sse.Event{ID: "a\x00"}},
		{"invalid UTF-8 in id", sse.Event{ID: "\xff"}},
		{"LF in name", sse.Event{Name: "a\n\ndata: x"}},
		{"CR in name", sse.Event{Name: "a\r"}},
		{"invalid UTF-8 in name", sse.Event{Name: "\xc3"}},
		{"LF in comment", sse.Event{Comment: "a\ndata: injected"}},
		{"CR in comment", sse.Event{Comment: "a\rb"}},
		{"CR in data", sse.Event{Data: []byte("a\rb")}},
		{"CRLF in data", sse.Event{Data: []byte("a\r\nb")}},
		{"invalid UTF-8 in data", sse.Event{Data: []byte("a\xe4\xbd")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := sse.AppendEvent([]byte("keep"), &tt.ev)
			if !errors.Is(err, sse.ErrInvalidEvent) {
				t.Fatalf("err = %v, want ErrInvalidEvent", err)
			}
			if string(got) != "keep" {
				t.Fatalf("dst changed to %q", got)
			}
		})
	}
}

func TestAppendComment(t *testing.T) {
	got, err := sse.AppendComment(nil, "")
	if err != nil || string(got) != ":\n\n" {
		t.Fatalf("bare comment = %q, %v", got, err)
	}
	got, err = sse.AppendComment(nil, "keep-alive")
	if err != nil || string(got) != ": keep-alive\n\n" {
		t.Fatalf("comment = %q, %v", got, err)
	}
	if evs := parse(t, got); len(evs) != 0 {
		t.Fatalf("a comment dispatched %d events", len(evs))
	}
	for _, bad := range []string{"a\nevent: x", "a\r", "\xff"} {
		if _, err := sse.AppendComment(nil, bad); !errors.Is(err, sse.ErrInvalidEvent) {
			t.Errorf("AppendComment(%q) err = %v", bad, err)
		}
	}
}

// FuzzAppendEvent checks that any id, name, comment and data either round-trip
// exactly through go-sse's spec parser as exactly one event, with the bytes
// go-sse's own Message produces, or are rejected for a stated reason.
func FuzzAppendEvent(f *testing.F) {
	f.Add("s.1", "delta", "", []byte(`{"text":"hi"}`), int64(0))
	f.Add("", "", "", []byte(""), int64(10))
	f.Add("a\nb", "c\rd", "e\nf", []byte("x\r\ny\n"), int64(-5))
	f.Add("id", "ev", ": x", []byte("\n\ndata: x\n\nid: y\n"), int64(3000))
	f.Add("\x00", "\x00", "\x00", []byte("\x00 :\xff"), int64(1))
	f.Fuzz(func(t *testing.T, id, name, comment string, data []byte, retryMS int64) {
		ev := sse.Event{ID: id, Name: name, Comment: comment, Data: data, Retry: time.Duration(retryMS) * time.Millisecond}
		wire, err := sse.AppendEvent(nil, &ev)
		expectReject := strings.ContainsAny(id, "\r\n\x00") || !utf8.ValidString(id) ||
			strings.ContainsAny(name, "\r\n") || !utf8.ValidString(name) ||
			strings.ContainsAny(comment, "\r\n") || !utf8.ValidString(comment) ||
			bytes.IndexByte(data, '\r') >= 0 || !utf8.Valid(data)
		if expectReject {
			if !errors.Is(err, sse.ErrInvalidEvent) || len(wire) != 0 {
				t.Fatalf("accepted %+v: %q, %v", ev, wire, err)
			}
			return
		}
		if err != nil {
			t.Fatalf("rejected valid %+v: %v", ev, err)
		}
		if ref := reference(t, &ev); !bytes.Equal(wire, ref) {
			t.Fatalf("differs from go-sse:\n got %q\n go-sse %q", wire, ref)
		}
		checkRoundTrip(t, &ev, wire)
		// Two events back to back stay two events: nothing leaks across.
		double := append(append([]byte(nil), wire...), wire...)
		if evs := parse(t, double); len(evs) != 2 {
			t.Fatalf("two events parsed as %d", len(evs))
		}
	})
}

func BenchmarkAppendEvent(b *testing.B) {
	ev := sse.Event{ID: "JBSWY3DPEHPK3PXPJBSWY3DPEH.42", Name: "delta", Data: []byte(`{"text":"Hello, 世界"}`)}
	buf := make([]byte, 0, 256)
	b.ReportAllocs()
	for b.Loop() {
		buf, _ = sse.AppendEvent(buf[:0], &ev)
	}
}
