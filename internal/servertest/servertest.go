// Package servertest runs handlers over real connections for tests: the
// same test over HTTP/1.1 and over HTTP/2, and a ResponseWriter that
// discards what it is given, for benchmarks.
package servertest

import (
	"bufio"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// Each runs fn as three subtests, against h served over HTTP/1.1, HTTP/2
// with TLS and HTTP/2 without (h2c, prior knowledge); srv.Client() speaks
// the matching protocol.
func Each(t *testing.T, h http.Handler, fn func(t *testing.T, srv *httptest.Server)) {
	t.Helper()
	t.Run("HTTP/1.1", func(t *testing.T) {
		srv := httptest.NewServer(h)
		t.Cleanup(srv.Close)
		fn(t, srv)
	})
	t.Run("HTTP/2", func(t *testing.T) {
		srv := httptest.NewUnstartedServer(h)
		srv.EnableHTTP2 = true
		srv.StartTLS()
		t.Cleanup(srv.Close)
		fn(t, srv)
	})
	t.Run("h2c", func(t *testing.T) {
		srv := httptest.NewUnstartedServer(h)
		srv.Config.Protocols = new(http.Protocols)
		srv.Config.Protocols.SetHTTP1(true)
		srv.Config.Protocols.SetUnencryptedHTTP2(true)
		srv.Start()
		t.Cleanup(srv.Close)
		tr := srv.Client().Transport.(*http.Transport)
		tr.Protocols = new(http.Protocols)
		tr.Protocols.SetUnencryptedHTTP2(true)
		fn(t, srv)
	})
}

// Discard is a flushable ResponseWriter that drops what is written.
type Discard struct{ h http.Header }

func (d *Discard) Header() http.Header {
	if d.h == nil {
		d.h = http.Header{}
	}
	return d.h
}

func (d *Discard) WriteHeader(int)             {}
func (d *Discard) Write(b []byte) (int, error) { return len(b), nil }
func (d *Discard) Flush()                      {}

// ReadUntil reads lines from r until one contains s, and fails the test if
// the stream ends first. Tests use it to prove that an event arrived while
// the stream is still open.
func ReadUntil(t testing.TB, r io.Reader, s string) {
	t.Helper()
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		if strings.Contains(sc.Text(), s) {
			return
		}
	}
	t.Fatalf("stream ended (%v) before a line containing %q", sc.Err(), s)
}

// Tool returns the path of the first of names found on PATH. When none is
// found the test is skipped, except under CI (the CI environment variable
// set), where it fails: CI must run every test.
func Tool(t testing.TB, names ...string) string {
	t.Helper()
	for _, name := range names {
		if path, err := exec.LookPath(name); err == nil {
			return path
		}
	}
	if os.Getenv("CI") != "" {
		t.Fatalf("none of %v is installed; CI must install it (see .ci/run)", names)
	}
	t.Skipf("none of %v is installed", names)
	return ""
}
