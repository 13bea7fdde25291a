package middleware

import (
	"encoding/json"

	"github.com/ssechat/ssechat/chat"
	"github.com/ssechat/ssechat/sse"
)

// endWithError ends a response that a handler left unfinished, in the shape
// a chat client understands: before anything was sent, a status with a JSON
// error body {"error":{"code","message"}}; in an event stream at an event
// boundary, an "error" event with chat.ErrorData. It reports false when
// neither is possible (a response that is not an event stream, or one cut
// inside an event). A response whose handler said it had ended (Ended), or
// whose client is gone, is left as it is.
func (s *stream) endWithError(e *chat.Error) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.pending = false
	if s.ended || s.err != nil {
		return true
	}
	if s.closed {
		return false
	}
	if !s.committed {
		h := s.rw.Header()
		for _, k := range []string{"Content-Encoding", "Content-Disposition", "ETag", "Last-Modified"} {
			h.Del(k) // meant for the success that did not happen; CORS and the like stay
		}
		s.commitLocked(e.Status())
		if err := chat.WriteError(s.rw, e); err != nil {
			s.failLocked(err)
		}
		return true
	}
	if !s.sse || !s.atBoundaryLocked() {
		return false
	}
	data, _ := json.Marshal(chat.ErrorData{Code: e.Code, Message: e.ClientMessage(), Retryable: e.Retryable()})
	b, err := sse.AppendEvent(nil, &sse.Event{Name: chat.EventError, Data: data})
	if err != nil {
		return false
	}
	if _, err := s.rw.Write(b); err != nil {
		s.failLocked(err)
		return true
	}
	s.noteLocked(b)
	_ = s.flushLocked()
	return true
}
