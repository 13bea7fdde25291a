package openai_test

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/ssechat/ssechat/chat/chattest"
)

func readAll(t *testing.T, resp *http.Response) string {
	t.Helper()
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func reparse(t *testing.T, resp *http.Response, raw string) *chattest.Stream {
	t.Helper()
	resp.Body = io.NopCloser(strings.NewReader(raw))
	s, err := chattest.Read(resp)
	if err != nil {
		t.Fatal(err)
	}
	return s
}
