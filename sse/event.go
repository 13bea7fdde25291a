package sse

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// ErrInvalidEvent is returned (wrapped, with the reason) for an event that
// cannot be framed without changing its meaning. Nothing is written for it.
var ErrInvalidEvent = errors.New("sse: invalid event")

// Event is one Server-Sent Event.
//
// The zero value is an unnamed event with empty data, which a browser
// dispatches as a "message" event whose data is "".
type Event struct {
	// ID is the "id" field. Empty means no id field. It must be valid UTF-8
	// and must not contain CR, LF or NUL (a client ignores an id with NUL).
	ID string
	// Name is the "event" field. Empty means no event field, which clients
	// read as "message". It must be valid UTF-8 and must not contain CR or LF.
	Name string
	// Retry is the "retry" field, in whole milliseconds. Values under one
	// millisecond are not sent.
	Retry time.Duration
	// Comment, if not empty, is sent as a comment line (": ...") before the
	// data; clients ignore it. It must be valid UTF-8 without CR or LF.
	Comment string
	// Data is the payload, always sent. Each LF-separated line is one "data"
	// field, so the client reassembles Data exactly, empty lines, a
	// trailing newline and empty data included. It must be valid UTF-8 and
	// must not contain CR: the protocol turns CR and CRLF into LF, so they
	// could not arrive as sent.
	Data []byte
}

var (
	fieldID    = []byte("id: ")
	fieldEvent = []byte("event: ")
	fieldRetry = []byte("retry: ")
	fieldData  = []byte("data: ")
	fieldNone  = []byte(": ")
)

// Validate reports why e cannot be framed exactly, or nil.
func (e *Event) Validate() error {
	switch {
	case !validField(e.ID, true):
		return fmt.Errorf("%w: id contains CR, LF or NUL, or is not valid UTF-8", ErrInvalidEvent)
	case !validField(e.Name, false):
		return fmt.Errorf("%w: event name contains CR or LF, or is not valid UTF-8", ErrInvalidEvent)
	case !validField(e.Comment, false):
		return fmt.Errorf("%w: comment contains CR or LF, or is not valid UTF-8", ErrInvalidEvent)
	case bytes.IndexByte(e.Data, '\r') >= 0:
		return fmt.Errorf("%w: data contains CR", ErrInvalidEvent)
	case !utf8.Valid(e.Data):
		return fmt.Errorf("%w: data is not valid UTF-8", ErrInvalidEvent)
	}
	return nil
}

// validField reports whether s is valid UTF-8 without CR or LF (nor NUL, if
// noNUL). Ids and names are checked per event; each of these calls has a
// vectorised fast path.
func validField(s string, noNUL bool) bool {
	return strings.IndexByte(s, '\n') < 0 && strings.IndexByte(s, '\r') < 0 &&
		(!noNUL || strings.IndexByte(s, 0) < 0) && utf8.ValidString(s)
}

// AppendEvent appends the wire form of e, ending with the blank line that
// dispatches it, to dst. If e is invalid it returns dst unchanged and an error
// wrapping [ErrInvalidEvent].
func AppendEvent(dst []byte, e *Event) ([]byte, error) {
	if err := e.Validate(); err != nil {
		return dst, err
	}
	return appendValid(dst, e), nil
}

func appendValid(dst []byte, e *Event) []byte {
	if e.ID != "" {
		dst = append(dst, fieldID...)
		dst = append(dst, e.ID...)
		dst = append(dst, '\n')
	}
	if e.Name != "" {
		dst = append(dst, fieldEvent...)
		dst = append(dst, e.Name...)
		dst = append(dst, '\n')
	}
	if ms := e.Retry.Milliseconds(); ms > 0 {
		dst = append(dst, fieldRetry...)
		dst = strconv.AppendInt(dst, ms, 10)
		dst = append(dst, '\n')
	}
	if e.Comment != "" {
		dst = append(dst, fieldNone...)
		dst = append(dst, e.Comment...)
		dst = append(dst, '\n')
	}
	data := e.Data
	for {
		line, rest, more := bytes.Cut(data, []byte{'\n'})
		dst = append(dst, fieldData...)
		dst = append(dst, line...)
		dst = append(dst, '\n')
		if !more {
			break
		}
		data = rest
	}
	return append(dst, '\n')
}

// AppendComment appends a comment block (":" plus the text, then a blank
// line) to dst. Clients ignore comments; proxies see traffic. The text must
// not contain CR or LF and must be valid UTF-8.
func AppendComment(dst []byte, text string) ([]byte, error) {
	if !validField(text, false) {
		return dst, fmt.Errorf("%w: comment contains CR or LF or invalid UTF-8", ErrInvalidEvent)
	}
	dst = append(dst, ':')
	if text != "" {
		dst = append(dst, ' ')
		dst = append(dst, text...)
	}
	return append(dst, '\n', '\n'), nil
}
