// Package redistest gives tests a real Redis server: the one named by
// SSECHAT_TEST_REDIS_URL (CI starts one on loopback), or else a private
// redis-server started for the test on a Unix socket. Without either the
// test is skipped, except under CI, where it fails.
package redistest

import (
	"bufio"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/ssechat/ssechat/internal/servertest"
)

// EnvURL names the environment variable with a Redis URL for tests.
const EnvURL = "SSECHAT_TEST_REDIS_URL"

// URL returns the URL of a Redis server for t (redis://... or unix://...).
func URL(t testing.TB) string {
	t.Helper()
	if u := os.Getenv(EnvURL); u != "" {
		return u
	}
	return Private(t)
}

// Private starts a redis-server of t's own on a Unix socket, with extra
// configuration args (for example "--maxmemory", "1mb"), and returns its
// URL. It stops when t ends.
func Private(t testing.TB, args ...string) string {
	t.Helper()
	bin := servertest.Tool(t, "redis-server")
	dir := t.TempDir()
	sock := filepath.Join(dir, "redis.sock")
	cmd := exec.Command(bin, append([]string{"--port", "0", "--unixsocket", sock, "--save", "", "--appendonly", "no", "--dir", dir}, args...)...)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		if strings.Contains(strings.ToLower(sc.Text()), "ready to accept connections") {
			return "unix://" + sock // it logs little after this: the pipe's buffer holds it
		}
	}
	t.Fatalf("redis-server did not start: %v", sc.Err())
	return ""
}

// Client returns a client of a new server from URL(t), closed when t ends.
func Client(t testing.TB) *redis.Client {
	t.Helper()
	return NewClient(t, URL(t))
}

// NewClient returns a client of the server at url, closed when t ends.
// Several clients of one server stand for several instances of a service.
func NewClient(t testing.TB, url string) *redis.Client {
	t.Helper()
	opts, err := redis.ParseURL(url)
	if err != nil {
		t.Fatal(err)
	}
	c := redis.NewClient(opts)
	t.Cleanup(func() { c.Close() })
	if err := c.Ping(context.Background()).Err(); err != nil {
		t.Fatalf("redis: %v", err)
	}
	return c
}
