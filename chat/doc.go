// Package chat serves ChatGPT-style streaming answers over Server-Sent
// Events: [NewHandler] returns an http.Handler that decodes and validates a
// JSON chat [Request], runs a prepare hook, streams the chunks of a
// [Provider] in a wire [Mode] (delta, snapshot or OpenAI-compatible), ends
// every stream with exactly one terminal event, cancels the provider the
// moment the client goes away, and reports each stream's [Result] to a finish
// hook.
//
// Streams are resumable: a producer appends each stream's progress to a log
// in a [Store] ([MemoryStore] by default; the redisstore subpackage shares it
// between instances), and every connection follows the log from a position,
// so a client that lost its connection gets exactly the rest by sending the
// last event id it saw. [WithDetach] keeps a generation going after its
// client left, [WithMaxResponse] rotates responses under a client's request
// cap, and [Handler.Stop] stops a generation from any instance.
// [Handler.Shutdown] drains a handler when the process stops, ending every
// stream with a terminal event; a generation whose instance died without a
// drain is noticed by its readers elsewhere ([Store].Alive). With a shared
// store, the connections of the instance that runs a generation follow it
// from memory; the store is read by the readers who come back elsewhere.
//
// The provider is the only part that knows a vendor (see the openai
// subpackage), the encoder the only part that knows a wire format, and the
// sse package the only part that writes to the connection. The chattest
// subpackage has a scripted provider and a response reader for tests.
//
// Failures are [*Error] values with a [Code] from a closed set; clients see
// the code and a generic or chosen message, never the cause.
package chat
