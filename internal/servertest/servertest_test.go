package servertest_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"

	"github.com/ssechat/ssechat/internal/servertest"
)

func TestEachSpeaksEachProtocol(t *testing.T) {
	want := map[string]int{"HTTP/1.1": 1, "HTTP/2": 2, "h2c": 2}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, strconv.Itoa(r.ProtoMajor))
	})
	servertest.Each(t, h, func(t *testing.T, srv *httptest.Server) {
		resp, err := srv.Client().Get(srv.URL)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		name := t.Name()[len("TestEachSpeaksEachProtocol/"):]
		if got := string(b); got != strconv.Itoa(want[name]) || resp.ProtoMajor != want[name] {
			t.Errorf("server saw HTTP/%s, client HTTP/%d; want %d", got, resp.ProtoMajor, want[name])
		}
	})
}
