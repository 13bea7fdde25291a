package openai

import (
	"bufio"
	"bytes"
	"io"
	"net/http"
	"strings"
	"sync/atomic"

	goopenai "github.com/sashabaranov/go-openai"
)

// trackerKey carries a *tracker in a request's context from Stream to doer.
type trackerKey struct{}

// tracker learns from the response body whether the stream ended with
// "data: [DONE]", which go-openai does not expose: it reports io.EOF both
// for [DONE] and for a response that simply stops.
type tracker struct{ done atomic.Bool }

func (t *tracker) sawDone() bool { return t.done.Load() }

// doer wraps the configured HTTP client so that streaming response bodies
// pass through a lineFilter.
type doer struct{ inner goopenai.HTTPDoer }

func (d doer) Do(req *http.Request) (*http.Response, error) {
	resp, err := d.inner.Do(req)
	if err != nil {
		return resp, err
	}
	tr, ok := req.Context().Value(trackerKey{}).(*tracker)
	if ok && resp.StatusCode < 300 && strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		resp.Body = &lineFilter{body: resp.Body, br: bufio.NewReaderSize(resp.Body, 16<<10), tr: tr, atStart: true}
	}
	return resp, err
}

// lineFilter passes an event stream through line by line, dropping comment
// lines (": keep-alive") and blank lines, and noting a "data: [DONE]" line.
// go-openai reads one "data:" line per chunk and counts every other line
// against EmptyMessagesLimit, keeping it in memory, so neither kind is of use
// to it: an upstream that sends keep-alives through minutes of silence would
// otherwise fail the stream.
type lineFilter struct {
	body    io.ReadCloser
	br      *bufio.Reader
	tr      *tracker
	pending []byte // the part of the current line not yet read
	atStart bool   // the next byte starts a line
	skip    bool   // the current line is dropped
	err     error
}

func (f *lineFilter) Read(p []byte) (int, error) {
	for len(f.pending) == 0 {
		if f.err != nil {
			return 0, f.err
		}
		piece, err := f.br.ReadSlice('\n')
		if err != nil && err != bufio.ErrBufferFull {
			f.err = err
		}
		if len(piece) == 0 {
			continue
		}
		if f.atStart {
			f.skip = piece[0] == ':' || len(bytes.TrimSpace(piece)) == 0 && piece[len(piece)-1] == '\n'
			if !f.skip && isDone(piece) {
				f.tr.done.Store(true)
			}
		}
		f.atStart = piece[len(piece)-1] == '\n'
		if !f.skip {
			f.pending = piece // valid until the next ReadSlice
		}
	}
	n := copy(p, f.pending)
	f.pending = f.pending[n:]
	return n, nil
}

func isDone(line []byte) bool {
	v, ok := bytes.CutPrefix(bytes.TrimSpace(line), []byte("data:"))
	return ok && string(bytes.TrimSpace(v)) == "[DONE]"
}

func (f *lineFilter) Close() error { return f.body.Close() }
