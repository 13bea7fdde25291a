package main

import (
	"net/http/httptest"
	"testing"
	"time"

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
