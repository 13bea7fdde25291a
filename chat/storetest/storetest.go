// Package storetest checks that a chat.Store keeps the contract the handler
// relies on: [Run] from a test of your own store,
//
//	func TestContract(t *testing.T) { storetest.Run(t, mystore.New(...)) }
//
// The memory store and the Redis store both run it.
package storetest

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/ssechat/ssechat/chat"
)

// Run checks s. Streams get fresh random ids, so s may be shared.
func Run(t *testing.T, s chat.Store) {
	ctx := context.Background()
	newStream := func(t *testing.T) *chat.StreamInfo {
		t.Helper()
		info := &chat.StreamInfo{ID: rand.Text(), Owner: "alice", Mode: chat.ModeOpenAI, Model: "m", Created: 1700000000, IncludeUsage: true, AILabel: true}
		if err := s.Create(ctx, info); err != nil {
			t.Fatal(err)
		}
		return info
	}
	// A log with every kind of part, each kept exactly.
	recs := []chat.Record{
		{Seq: 0, Kind: chat.RecordStart},
		{Seq: 1, Kind: chat.RecordReasoning, Text: "Let me think. 想一想"},
		{Seq: 2, Kind: chat.RecordText, Text: "Hello, "},
		{Seq: 3, Kind: chat.RecordReasoning, Text: "And again."},
		{Seq: 4, Kind: chat.RecordText, Text: "你好 👍🏽\n\"x\""},
		{Seq: 5, Kind: chat.RecordToolStart, ID: "call_1", Name: "weather"},
		{Seq: 6, Kind: chat.RecordToolDelta, ID: "call_1", Text: `{"city":`},
		{Seq: 7, Kind: chat.RecordToolCall, ID: "call_1", Name: "weather", Text: `{"city":"北京"}`},
		{Seq: 8, Kind: chat.RecordToolResult, ID: "call_1", Name: "weather", Value: json.RawMessage(`{"temp":21}`)},
		{Seq: 9, Kind: chat.RecordToolResult, ID: "call_2", Name: "weather", Message: "no such city"},
		{Seq: 10, Kind: chat.RecordData, Name: "sources", ID: "s1", Value: json.RawMessage(`[{"url":"https://example.com"}]`)},
		{Seq: 11, Kind: chat.RecordData, Name: "status", Transient: true},
		{Seq: 12, Kind: chat.RecordDone, FinishReason: "tool_calls", Usage: &chat.Usage{InputTokens: 1, OutputTokens: 2, TotalTokens: 3, ReasoningTokens: 1}},
	}

	t.Run("info", func(t *testing.T) {
		info := newStream(t)
		got, err := s.Info(ctx, info.ID)
		if err != nil || *got != *info {
			t.Fatalf("Info = %+v, %v; want %+v", got, err, info)
		}
		if _, err := s.Info(ctx, rand.Text()); !errors.Is(err, chat.ErrStreamNotFound) {
			t.Fatalf("Info of an unknown stream: %v", err)
		}
	})

	t.Run("read", func(t *testing.T) {
		info := newStream(t)
		if got, err := s.Read(ctx, info.ID, -1, 0); err != nil || len(got) != 0 {
			t.Fatalf("empty log: %v, %v", got, err)
		}
		if err := s.Append(ctx, info.ID, recs[:2]...); err != nil {
			t.Fatal(err)
		}
		if err := s.Append(ctx, info.ID, recs[2:]...); err != nil {
			t.Fatal(err)
		}
		for after := -1; after < len(recs); after++ {
			got, err := s.Read(ctx, info.ID, int64(after), 0)
			if err != nil {
				t.Fatal(err)
			}
			want := recs[after+1:]
			if len(got) != len(want) {
				t.Fatalf("after %d: %d records, want %d", after, len(got), len(want))
			}
			for i := range want {
				g, w := got[i], want[i]
				if !reflect.DeepEqual(g, w) {
					t.Fatalf("after %d, record %d: %+v, want %+v", after, i, g, w)
				}
			}
		}
		if _, err := s.Read(ctx, rand.Text(), -1, 0); !errors.Is(err, chat.ErrStreamNotFound) {
			t.Fatalf("Read of an unknown stream: %v", err)
		}
	})

	t.Run("chat index", func(t *testing.T) {
		idx, ok := s.(chat.ChatIndex)
		if !ok {
			t.Skip("the store does not implement chat.ChatIndex")
		}
		a, b := newStream(t), newStream(t)
		chatID := "chat-" + rand.Text()
		if _, err := idx.ChatStream(ctx, chatID); !errors.Is(err, chat.ErrStreamNotFound) {
			t.Fatalf("an unknown chat: %v", err)
		}
		if err := idx.SetChatStream(ctx, chatID, a.ID, time.Minute); err != nil {
			t.Fatal(err)
		}
		if id, err := idx.ChatStream(ctx, chatID); err != nil || id != a.ID {
			t.Fatalf("ChatStream = %q, %v; want %q", id, err, a.ID)
		}
		// A new stream in the chat replaces the note; the old one's end
		// leaves it alone.
		if err := idx.SetChatStream(ctx, chatID, b.ID, time.Minute); err != nil {
			t.Fatal(err)
		}
		if err := idx.EndChatStream(ctx, chatID, a.ID, 0); err != nil {
			t.Fatal(err)
		}
		if id, err := idx.ChatStream(ctx, chatID); err != nil || id != b.ID {
			t.Fatalf("after the old stream's end: %q, %v; want %q", id, err, b.ID)
		}
		if err := idx.EndChatStream(ctx, chatID, b.ID, 0); err != nil {
			t.Fatal(err)
		}
		if _, err := idx.ChatStream(ctx, chatID); !errors.Is(err, chat.ErrStreamNotFound) {
			t.Fatalf("after its stream's end: %v", err)
		}
	})

	t.Run("error record", func(t *testing.T) {
		info := newStream(t)
		rec := chat.Record{Seq: 0, Kind: chat.RecordError, Code: chat.CodeRateLimited, Message: "slow down"}
		if err := s.Append(ctx, info.ID, rec); err != nil {
			t.Fatal(err)
		}
		got, err := s.Read(ctx, info.ID, -1, 0)
		if err != nil || len(got) != 1 || !reflect.DeepEqual(got[0], rec) {
			t.Fatalf("got %+v, %v", got, err)
		}
	})

	t.Run("wait", func(t *testing.T) {
		info := newStream(t)
		got := make(chan []chat.Record, 1)
		go func() {
			r, err := s.Read(ctx, info.ID, -1, time.Minute)
			if err != nil {
				t.Error(err)
			}
			got <- r
		}()
		if err := s.Append(ctx, info.ID, recs[0]); err != nil {
			t.Fatal(err)
		}
		if r := <-got; len(r) != 1 || r[0].Kind != chat.RecordStart {
			t.Fatalf("waiting read got %+v", r)
		}
	})

	t.Run("wait ends with ctx", func(t *testing.T) {
		info := newStream(t)
		ctx, cancel := context.WithCancel(ctx)
		cancel()
		if _, err := s.Read(ctx, info.ID, -1, time.Minute); err == nil {
			t.Fatal("a read with a cancelled context returned no error")
		}
	})

	t.Run("lease", func(t *testing.T) {
		info := newStream(t)
		if ok, err := s.Attached(ctx, info.ID); err != nil || ok {
			t.Fatalf("attached before a touch: %v %v", ok, err)
		}
		if err := s.Touch(ctx, info.ID, time.Minute); err != nil {
			t.Fatal(err)
		}
		if ok, err := s.Attached(ctx, info.ID); err != nil || !ok {
			t.Fatalf("not attached after a touch: %v %v", ok, err)
		}
	})

	t.Run("alive", func(t *testing.T) {
		info := newStream(t)
		if ok, err := s.Alive(ctx, info.ID); err != nil || !ok {
			t.Fatalf("a running stream of this instance: alive %v, %v", ok, err)
		}
		if _, err := s.Alive(ctx, rand.Text()); !errors.Is(err, chat.ErrStreamNotFound) {
			t.Fatalf("Alive of an unknown stream: %v", err)
		}
	})

	t.Run("stop", func(t *testing.T) {
		info := newStream(t)
		stopped := make(chan struct{})
		unwatch, err := s.WatchStop(ctx, info.ID, func() { close(stopped) })
		if err != nil {
			t.Fatal(err)
		}
		defer unwatch()
		if err := s.Stop(ctx, info.ID); err != nil {
			t.Fatal(err)
		}
		<-stopped
		// A watch that starts after the stop still hears it.
		late := make(chan struct{})
		unwatch2, err := s.WatchStop(ctx, info.ID, func() { close(late) })
		if err != nil {
			t.Fatal(err)
		}
		defer unwatch2()
		<-late
		if err := s.Stop(ctx, rand.Text()); !errors.Is(err, chat.ErrStreamNotFound) {
			t.Fatalf("Stop of an unknown stream: %v", err)
		}
	})
}
