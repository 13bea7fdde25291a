package chat

import (
	"bytes"
	"encoding/json"
	"testing"
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
