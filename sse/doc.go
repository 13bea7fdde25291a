// Package sse writes Server-Sent Events to any [http.ResponseWriter].
//
// [NewWriter] checks that the response can be flushed (walking Unwrap chains
// the way [http.ResponseController] does) before it writes anything, sets the
// streaming headers (Content-Type, Cache-Control: no-cache, no-transform,
// X-Accel-Buffering: no), and commits them at once. [Writer.Send] then writes
// whole events, each batch in one Write followed by one Flush, extending the
// connection's write deadline before every write so that
// [http.Server.WriteTimeout] does not cut a long stream.
//
// Framing is safe by construction: [AppendEvent] rejects ids, event names and
// comments that contain line breaks, and data that contains a carriage return
// or invalid UTF-8, so no input can inject a field or an event. Every other byte
// sequence, including empty data, empty lines and trailing newlines, reaches a
// spec-compliant parser (a browser's EventSource, for one) exactly. The bytes
// are those that github.com/tmaxmax/go-sse's Message produces for the same
// event; the tests prove it.
//
// [AppendASCIIJSON] escapes every non-ASCII rune of a JSON text as \uXXXX, so
// that a client that decodes each network chunk on its own (WeChat mini
// programs do) can never split a character.
//
// The package depends only on the standard library.
package sse
