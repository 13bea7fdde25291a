package chat

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/ssechat/ssechat/sse"
)

// FuzzAppendJSONString: the encoder's string quoting writes exactly what
// encoding/json writes without HTML escaping, for any string, valid UTF-8
// or not.
func FuzzAppendJSONString(f *testing.F) {
	for _, s := range []string{
		"", "plain", `quote " and \ backslash`, "ctl \x00\x01\b\f\n\r\t\x1f\x7f",
		"你好, ssechat! 😀", "bad \xff\xfe utf-8 \xe4\xbd", "\u2028 and \u2029", "<&>",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		var want bytes.Buffer
		enc := json.NewEncoder(&want)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(s); err != nil {
			t.Fatal(err)
		}
		got := appendJSONString([]byte("x"), s)
		if string(got) != "x"+string(bytes.TrimSuffix(want.Bytes(), []byte("\n"))) {
			t.Fatalf("%q: got %s, want %s", s, got[1:], want.Bytes())
		}
	})
}

// TestEncoderBatchesPooled: an encoder holds a batch only while events
// wait for flush, and encoders whose batches are pending at once (streams
// that coalesce) never share one: each writes only its own events.
func TestEncoderBatchesPooled(t *testing.T) {
	var outA, outB httptest.ResponseRecorder
	outA.Body, outB.Body = new(bytes.Buffer), new(bytes.Buffer)
	swA, _ := sse.NewWriter(&outA, &sse.Options{WriteTimeout: -1})
	swB, _ := sse.NewWriter(&outB, &sse.Options{WriteTimeout: -1})
	a := newEncoder(&StreamInfo{ID: "a", Mode: ModeDelta}, false, -1)
	b := newEncoder(&StreamInfo{ID: "b", Mode: ModeDelta}, false, -1)
	if a.pending() || a.full() || a.batch != nil {
		t.Fatal("a new encoder holds a batch")
	}
	for i := range 3 {
		a.addRecord(&Record{Seq: int64(i), Kind: RecordText, Text: fmt.Sprint("A", i)})
		b.addRecord(&Record{Seq: int64(i), Kind: RecordText, Text: fmt.Sprint("B", i)})
	}
	if !a.pending() || a.batch == b.batch {
		t.Fatal("two pending encoders share a batch")
	}
	if err := a.flush(swA); err != nil {
		t.Fatal(err)
	}
	if a.batch != nil || a.pending() {
		t.Fatal("an encoder keeps its batch after flush")
	}
	a.addRecord(&Record{Seq: 3, Kind: RecordText, Text: "A3"}) // maybe a's old batch again
	if err := b.flush(swB); err != nil {
		t.Fatal(err)
	}
	if err := a.flush(swA); err != nil {
		t.Fatal(err)
	}
	for name, tt := range map[string]struct {
		got        string
		want       string
		wantEvents int
	}{
		"a": {outA.Body.String(), "A0 A1 A2 A3", 4},
		"b": {outB.Body.String(), "B0 B1 B2", 3},
	} {
		var texts []string
		for _, line := range strings.Split(tt.got, "\n") {
			if d, ok := strings.CutPrefix(line, "data: "); ok {
				var v struct{ Text string }
				if err := json.Unmarshal([]byte(d), &v); err != nil {
					t.Fatalf("%s: %q: %v", name, d, err)
				}
				texts = append(texts, v.Text)
			}
		}
		if strings.Join(texts, " ") != tt.want || strings.Count(tt.got, "id: ") != tt.wantEvents {
			t.Errorf("%s wrote %q, want the texts %s", name, tt.got, tt.want)
		}
	}
}
