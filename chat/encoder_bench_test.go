package chat

import (
	"testing"

	"github.com/ssechat/ssechat/internal/servertest"
	"github.com/ssechat/ssechat/sse"
)

// BenchmarkEncodeDelta measures turning one chunk of text into a framed
// delta event, written to a ResponseWriter that discards it.
func BenchmarkEncodeDelta(b *testing.B) {
	for _, tt := range []struct {
		name  string
		mode  Mode
		ascii bool
		text  string
	}{
		{"delta", ModeDelta, false, "Hello, world"},
		{"delta-cjk", ModeDelta, false, "你好，世界"},
		{"delta-cjk-ascii", ModeDelta, true, "你好，世界"},
		{"openai", ModeOpenAI, false, "Hello, world"},
	} {
		b.Run(tt.name, func(b *testing.B) {
			sw, err := sse.NewWriter(&servertest.Discard{}, &sse.Options{WriteTimeout: -1})
			if err != nil {
				b.Fatal(err)
			}
			enc := newEncoder(&StreamInfo{ID: "JBSWY3DPEHPK3PXPJBSWY3DPEH", Mode: tt.mode, Model: "m", Created: 1700000000}, tt.ascii, -1)
			b.ReportAllocs()
			for b.Loop() {
				enc.addText(tt.text)
				if err := enc.flush(sw); err != nil {
					b.Fatal(err)
				}
				if enc.text.Len() > 1<<20 {
					enc.text.Reset()
				}
			}
		})
	}
}

func TestEncodeDeltaAllocations(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts differ under the race detector; go test without -race checks them")
	}
	sw, _ := sse.NewWriter(&servertest.Discard{}, &sse.Options{WriteTimeout: -1})
	enc := newEncoder(&StreamInfo{ID: "JBSWY3DPEHPK3PXPJBSWY3DPEH", Mode: ModeDelta}, false, -1)
	enc.addText("warm up")
	_ = enc.flush(sw)
	allocs := testing.AllocsPerRun(1000, func() {
		enc.addText("Hello")
		_ = enc.flush(sw)
	})
	// The event's id string is the one allocation; the text builder's growth
	// amortises to zero.
	if allocs > 1 {
		t.Fatalf("%.1f allocations per delta event, want at most 1", allocs)
	}
}
