package main

import (
	"net/http/httptest"
	"testing"
	"time"

	"github.com/klauspost/compress/gzhttp"
	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"go.uber.org/goleak"

	"github.com/ssechat/ssechat/internal/frameworktest"
	"github.com/ssechat/ssechat/internal/servertest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestStreams(t *testing.T) {
	u := frameworktest.NewUpstream()
	servertest.Each(t, newHandler(u, 5*time.Millisecond), func(t *testing.T, srv *httptest.Server) {
		frameworktest.Check(t, srv, "/chat", u)
	})
}

// The same proof behind otelhttp and behind klauspost/compress's gzhttp,
// wrapped around the whole mux as services usually do. gzhttp compresses
// event streams unless told not to (the README shows how; without the
// option this test fails with Content-Encoding "gzip").
func TestStreamsBehindOtelhttpAndGzip(t *testing.T) {
	u := frameworktest.NewUpstream()
	gz, err := gzhttp.NewWrapper(gzhttp.ExceptContentTypes([]string{"text/event-stream"}))
	if err != nil {
		t.Fatal(err)
	}
	h := otelhttp.NewHandler(gz(newHandler(u, 5*time.Millisecond)), "server")
	servertest.Each(t, h, func(t *testing.T, srv *httptest.Server) {
		frameworktest.Check(t, srv, "/chat", u)
	})
}
