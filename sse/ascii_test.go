package sse_test

import (
	"encoding/json"
	"testing"

	"github.com/ssechat/ssechat/sse"
)

func TestAppendASCIIJSON(t *testing.T) {
	tests := []struct{ in, want string }{
		{`{"text":"hi"}`, `{"text":"hi"}`},
		{`{"text":"你好"}`, `{"text":"\u4f60\u597d"}`},
		{`{"text":"é"}`, `{"text":"\u00e9"}`},
		{`{"text":"😀"}`, `{"text":"\ud83d\ude00"}`},
		{`{"text":"👩‍💻"}`, `{"text":"\ud83d\udc69\u200d\ud83d\udcbb"}`},
		{"{\"text\":\"\xff\"}", `{"text":"\ufffd"}`},
		{`{"text":"a\nb"}`, `{"text":"a\nb"}`},
	}
	for _, tt := range tests {
		got := sse.AppendASCIIJSON([]byte("x"), []byte(tt.in))
		if string(got) != "x"+tt.want {
			t.Errorf("AppendASCIIJSON(%q) = %q, want %q", tt.in, got[1:], tt.want)
		}
	}
}

// FuzzAppendASCIIJSON checks that the output is pure ASCII and decodes to
// the same value as the input.
func FuzzAppendASCIIJSON(f *testing.F) {
	for _, s := range []string{"hi", "你好", "😀👩‍💻", "e\u0301", "\u2028", "<&>", "\x00\x1f"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		in, err := json.Marshal(map[string]string{"text": s})
		if err != nil {
			t.Skip()
		}
		out := sse.AppendASCIIJSON(nil, in)
		for i, c := range out {
			if c >= 0x80 {
				t.Fatalf("byte %d of %q is not ASCII", i, out)
			}
		}
		var a, b map[string]string
		if err := json.Unmarshal(in, &a); err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(out, &b); err != nil {
			t.Fatalf("output %q is not JSON: %v", out, err)
		}
		if a["text"] != b["text"] {
			t.Fatalf("decoded %q, want %q", b["text"], a["text"])
		}
	})
}

func BenchmarkAppendASCIIJSON(b *testing.B) {
	src := []byte(`{"text":"你好，世界！这是一个测试。"}`)
	buf := make([]byte, 0, 256)
	b.ReportAllocs()
	b.SetBytes(int64(len(src)))
	for b.Loop() {
		buf = sse.AppendASCIIJSON(buf[:0], src)
	}
}
