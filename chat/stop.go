package chat

import (
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
)

// stopBody is the body of a stop request.
type stopBody struct {
	StreamID string `json:"stream_id"`
	// ChatID stops the stream that answers in a chat (the AI SDK's
	// useChat id), for clients that know only that.
	ChatID string `json:"chat_id"`
}

// StopHandler returns the handler of stop requests, to mount next to h (for
// example at /chat/stop): a POST with Content-Type application/json and the
// stream id in the body {"stream_id": "..."} or in the stream_id query
// parameter (an event id is accepted too), or the chat id of a stream
// started with one ({"chat_id": "..."}, the AI SDK's useChat id: the
// stream answering in that chat stops, 204 if none runs). Any other Content-Type gets 415:
// a stop is never a request that a web page can send cross-site without a
// CORS preflight. It runs h's prepare hook with req.Op [OpStop], refuses a
// stream that belongs to another owner (403), and answers 204 No Content
// once the stop is sent, to whichever instance runs the generation; 404 with
// code stream_expired if the stream is unknown or expired. Stopping a
// finished stream is not an error.
func (h *Handler) StopHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := h.serveStop(w, r); err != nil {
			_ = h.writeError(w, asError(r.Context(), err))
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
}

func (h *Handler) serveStop(w http.ResponseWriter, r *http.Request) error {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		return NewError(CodeMethodNotAllowed, "use POST")
	}
	// Always JSON, so that a stop is never a "simple" request (a form, a
	// text/plain fetch) that any web page could send cross-site without a
	// preflight.
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if ct != "application/json" {
		return &Error{Code: CodeUnsupportedMediaType, Message: "Content-Type must be application/json"}
	}
	target := r.URL.Query().Get("stream_id")
	if target == "" {
		var body stopBody
		b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 4<<10))
		if err != nil {
			return &Error{Code: CodeBadRequest, Message: "could not read the request body", Err: err}
		}
		if err := json.Unmarshal(b, &body); err != nil {
			return &Error{Code: CodeBadRequest, Message: "the request body is not valid JSON", Err: err}
		}
		target = body.StreamID
		if target == "" && body.ChatID != "" {
			idx, ok := h.store.(ChatIndex)
			if !ok {
				return NewError(CodeBadRequest, "chat_id: this server's store does not index chats; send stream_id")
			}
			id, err := idx.ChatStream(r.Context(), body.ChatID)
			if errors.Is(err, ErrStreamNotFound) {
				return nil // nothing runs in that chat: nothing to stop
			}
			if err != nil {
				return storeError(err)
			}
			target = id
		}
	}
	if target == "" {
		return NewError(CodeBadRequest, "stream_id: required (or chat_id)")
	}
	id, _, err := parseEventID(target)
	if err != nil {
		return NewError(CodeBadRequest, "stream_id: malformed")
	}
	req := &Request{Op: OpStop, StreamID: id}
	if err := h.runPrepare(r, req); err != nil {
		return err
	}
	info, err := h.store.Info(r.Context(), id)
	if err != nil {
		return storeError(err)
	}
	if info.Owner != req.Owner {
		return NewError(CodePermissionDenied, "this stream belongs to someone else")
	}
	if err := h.Stop(r.Context(), id); err != nil {
		var e *Error
		if errors.As(err, &e) {
			return e
		}
		return err
	}
	return nil
}
