package chat

import (
	"encoding/json"
	"errors"
	"reflect"
	"testing"
)

// TestRequestDecode: the handler's one-pass decode of a request (messages
// read in their wire shape, then made Messages) gives what decoding each
// message on its own does, in every shape a message comes in, and names
// the field of a message that has the wrong type.
func TestRequestDecode(t *testing.T) {
	for _, body := range []string{
		`{"messages":[{"role":"user","content":"你好"}],"model":"m","max_tokens":5}`,
		`{"messages":[{"role":"user","content":[{"type":"text","text":"a"},{"type":"image_url","image_url":{"url":"https://x/y.png"}}]}]}`,
		`{"messages":[{"role":"assistant","content":null,"tool_calls":[{"id":"c1","type":"function","function":{"name":"f","arguments":"{}"}}]},{"role":"tool","tool_call_id":"c1","content":"42"}]}`,
		`{"id":"chat1","messages":[{"id":"m1","role":"assistant","parts":[{"type":"text","text":"hi"},{"type":"tool-f","toolCallId":"c1","state":"output-available","input":{},"output":{"n":1}}]}]}`,
		`{"messages":[]}`,
		`{"model":"m"}`,
	} {
		var want struct {
			plainRequest
			Messages []Message `json:"messages"`
		}
		if err := json.Unmarshal([]byte(body), &want); err != nil {
			t.Fatalf("%s: %v", body, err)
		}
		want.plainRequest.Messages = want.Messages
		wantReq := Request(want.plainRequest)
		wantReq.expandUI()
		var got Request
		if err := got.decode([]byte(body)); err != nil {
			t.Fatalf("%s: %v", body, err)
		}
		if !reflect.DeepEqual(got, wantReq) {
			t.Errorf("%s:\n got %+v\nwant %+v", body, got, wantReq)
		}
		var viaJSON Request
		if err := json.Unmarshal([]byte(body), &viaJSON); err != nil || !reflect.DeepEqual(viaJSON, wantReq) {
			t.Errorf("%s: json.Unmarshal gives %+v, %v", body, viaJSON, err)
		}
	}
	for body, field := range map[string]string{
		`{"messages":[{"role":"user","content":5}]}`:                       "messages.content",
		`{"messages":[{"role":"user","content":[5]}]}`:                     "messages.content",
		`{"messages":[{"role":7,"content":"a"}]}`:                          "messages.role",
		`{"messages":[{"role":"user","content":"a","tool_calls":"x"}]}`:    "messages.tool_calls",
		`{"messages":[{"role":"user","content":"a"}],"max_tokens":"many"}`: "max_tokens",
	} {
		var got Request
		var te *json.UnmarshalTypeError
		if err := got.decode([]byte(body)); !errors.As(err, &te) || te.Field != field {
			t.Errorf("%s: %v, want a type error in %s", body, err, field)
		}
	}
}
