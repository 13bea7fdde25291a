package chat

import (
	"testing"

	"github.com/ssechat/ssechat/internal/servertest"
	"github.com/ssechat/ssechat/sse"
)

// BenchmarkEncodeDelta measures turning one chunk of text (or reasoning)
// into a framed event, written to a ResponseWriter that discards it.
func BenchmarkEncodeDelta(b *testing.B) {
	for _, tt := range []struct {
		name  string
		mode  Mode
		kind  RecordKind
		ascii bool
		text  string
	}{
		{"delta", ModeDelta, RecordText, false, "Hello, world"},
		{"delta-reasoning", ModeDelta, RecordReasoning, false, "Hello, world"},
		{"delta-cjk", ModeDelta, RecordText, false, "你好，世界"},
		{"delta-cjk-ascii", ModeDelta, RecordText, true, "你好，世界"},
		{"openai", ModeOpenAI, RecordText, false, "Hello, world"},
		{"openai-reasoning", ModeOpenAI, RecordReasoning, false, "Hello, world"},
	} {
		b.Run(tt.name, func(b *testing.B) {
			sw, err := sse.NewWriter(&servertest.Discard{}, &sse.Options{WriteTimeout: -1})
			if err != nil {
				b.Fatal(err)
			}
			enc := newEncoder(&StreamInfo{ID: "JBSWY3DPEHPK3PXPJBSWY3DPEH", Mode: tt.mode, Model: "m", Created: 1700000000}, tt.ascii, -1)
			rec := Record{Kind: tt.kind, Text: tt.text}
			b.ReportAllocs()
			for b.Loop() {
				enc.addRecord(&rec)
				rec.Seq++
				if err := enc.flush(sw); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func TestEncodeDeltaAllocations(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts differ under the race detector; go test without -race checks them")
	}
	for _, kind := range []RecordKind{RecordText, RecordReasoning} {
		sw, _ := sse.NewWriter(&servertest.Discard{}, &sse.Options{WriteTimeout: -1})
		enc := newEncoder(&StreamInfo{ID: "JBSWY3DPEHPK3PXPJBSWY3DPEH", Mode: ModeDelta}, false, -1)
		rec := Record{Kind: kind, Text: "warm up"}
		enc.addRecord(&rec)
		_ = enc.flush(sw)
		rec.Text = "Hello"
		allocs := testing.AllocsPerRun(1000, func() {
			enc.addRecord(&rec)
			_ = enc.flush(sw)
		})
		// The id goes in the batch's id buffer, the JSON in its arena.
		if allocs > 0 {
			t.Fatalf("%s: %.1f allocations per delta event, want none", kind, allocs)
		}
	}
}
