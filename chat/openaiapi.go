package chat

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
)

// WithOpenAIAPI makes the handler OpenAI's chat completions endpoint, for
// OpenAI's client libraries pointed at it: it streams in [ModeOpenAI]
// (requests cannot choose another) when the request says "stream": true,
// and otherwise answers with one chat.completion object (the text,
// reasoning_content, tool_calls, finish_reason and usage), as OpenAI does,
// from the same provider, hooks, store and telemetry. Errors before the
// stream are in OpenAI's shape, {"error":{"message","type","param","code"}},
// so that the libraries build their typed errors. See [MountOpenAI].
func WithOpenAIAPI() Option {
	return optionFunc(func(h *Handler) {
		h.openaiAPI = true
		h.mode = ModeOpenAI
		h.requestModes = nil
	})
}

// Mux is what [MountOpenAI] mounts on: http.ServeMux, chi's Router and
// others.
type Mux interface {
	Handle(pattern string, handler http.Handler)
}

// MountOpenAI mounts OpenAI's chat completions API on mux under prefix
// (as "/v1"): prefix+"/chat/completions", a [Handler] with opts and
// [WithOpenAIAPI], and prefix+"/models", which lists models (the ones the
// server lets a request choose: enforce the same list in a prepare hook).
// It returns the chat handler, for its Shutdown and Stop.
func MountOpenAI(mux Mux, prefix string, p Provider, models []string, opts ...Option) *Handler {
	h := NewHandler(p, append(opts, WithOpenAIAPI())...)
	prefix = strings.TrimSuffix(prefix, "/")
	mux.Handle(prefix+"/chat/completions", h)
	mux.Handle(prefix+"/models", ModelsHandler(models...))
	return h
}

// ModelsHandler answers GET with OpenAI's model list: {"object":"list",
// "data":[{"id":...,"object":"model","created":0,"owned_by":"ssechat"}]}.
func ModelsHandler(models ...string) http.Handler {
	type model struct {
		ID      string `json:"id"`
		Object  string `json:"object"`
		Created int64  `json:"created"`
		OwnedBy string `json:"owned_by"`
	}
	list := struct {
		Object string  `json:"object"`
		Data   []model `json:"data"`
	}{Object: "list", Data: []model{}}
	for _, m := range models {
		list.Data = append(list.Data, model{ID: m, Object: "model", OwnedBy: "ssechat"})
	}
	body, _ := json.Marshal(&list)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			_ = WriteOpenAIError(w, NewError(CodeMethodNotAllowed, "use GET"))
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		_, _ = w.Write(body)
	})
}

// openaiErrorBody is OpenAI's error shape.
type openaiErrorBody struct {
	Error struct {
		Message string  `json:"message"`
		Type    string  `json:"type"`
		Param   *string `json:"param"`
		Code    Code    `json:"code"`
	} `json:"error"`
}

// openaiErrorType is OpenAI's error type for a status.
func openaiErrorType(status int) string {
	switch {
	case status == http.StatusUnauthorized:
		return "authentication_error"
	case status == http.StatusForbidden:
		return "permission_error"
	case status == http.StatusNotFound:
		return "not_found_error"
	case status == http.StatusTooManyRequests:
		return "rate_limit_error"
	case status < 500:
		return "invalid_request_error"
	case status == http.StatusServiceUnavailable:
		return "service_unavailable_error"
	default:
		return "server_error"
	}
}

// openaiError is e in OpenAI's shape: the message, a type for e's status,
// the request field the message names (its text before ": ", when that
// looks like a field path), and e's code.
func openaiError(e *Error) *openaiErrorBody {
	var b openaiErrorBody
	b.Error.Message, b.Error.Type, b.Error.Code = e.ClientMessage(), openaiErrorType(e.Status()), e.Code
	if field, _, ok := strings.Cut(b.Error.Message, ": "); ok && e.Code == CodeInvalidRequest && isFieldPath(field) {
		b.Error.Param = &field
	}
	return &b
}

func isFieldPath(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for _, c := range s {
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '_' || c == '.' || c == '[' || c == ']') {
			return false
		}
	}
	return true
}

// WriteOpenAIError is [WriteError] in OpenAI's shape.
func WriteOpenAIError(w http.ResponseWriter, e *Error) error {
	b, _ := json.Marshal(openaiError(e))
	return writeJSON(w, e.Status(), b)
}

func writeJSON(w http.ResponseWriter, status int, b []byte) error {
	h := w.Header()
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(status)
	_, err := w.Write(b)
	return err
}

// writeError answers e before a stream has started, in the handler's shape.
func (h *Handler) writeError(w http.ResponseWriter, e *Error) error {
	if h.openaiAPI {
		return WriteOpenAIError(w, e)
	}
	return WriteError(w, e)
}

// modeCompletion is the non-streaming answer of [WithOpenAIAPI]: one
// chat.completion object. It is not a mode a request can name.
const modeCompletion Mode = "openai-completion"

func init() {
	registerFormat(modeCompletion, formatSpec{
		new:        func(info *StreamInfo) wireFormat { return &completion{info: info} },
		whole:      true,
		hides:      func(*Record) bool { return true },
		doneEvents: func(*StreamInfo, *Record) int { return 1 },
	})
}

// completion gathers the answer and makes it one chat.completion object
// (or, for a failure, an OpenAI error body and its status).
type completion struct {
	info      *StreamInfo
	text      strings.Builder
	reasoning strings.Builder
	calls     []openaiToolCall
	status    int
}

func (f *completion) start(e *encoder) { e.none() }

func (f *completion) part(e *encoder, r *Record) {
	switch r.Kind {
	case RecordText:
		f.text.WriteString(r.Text)
	case RecordReasoning:
		f.reasoning.WriteString(r.Text)
	case RecordToolCall:
		if r.Server {
			break // the server ran it: not the client's to run or send back
		}
		var c openaiToolCall
		c.ID, c.Type, c.Function.Name, c.Function.Arguments = r.ID, "function", r.Name, r.Text
		f.calls = append(f.calls, c)
	}
	e.none()
}

func (f *completion) finish(e *encoder, r *Record) {
	type message struct {
		Role             string           `json:"role"`
		Content          *string          `json:"content"`
		ReasoningContent string           `json:"reasoning_content,omitempty"`
		ToolCalls        []openaiToolCall `json:"tool_calls,omitempty"`
		Refusal          *string          `json:"refusal"`
	}
	type choice struct {
		Index        int       `json:"index"`
		Message      message   `json:"message"`
		Logprobs     *struct{} `json:"logprobs"`
		FinishReason string    `json:"finish_reason"`
	}
	out := struct {
		ID      string   `json:"id"`
		Object  string   `json:"object"`
		Created int64    `json:"created"`
		Model   string   `json:"model"`
		Choices []choice `json:"choices"`
		Usage   *oaUsage `json:"usage,omitempty"`
	}{ID: "chatcmpl-" + f.info.ID, Object: "chat.completion", Created: f.info.Created, Model: f.info.Model}
	text := f.text.String()
	m := message{Role: "assistant", Content: &text, ReasoningContent: f.reasoning.String(), ToolCalls: f.calls}
	if text == "" && len(f.calls) > 0 {
		m.Content = nil
	}
	out.Choices = []choice{{Message: m, FinishReason: r.FinishReason}}
	if u := r.Usage; u != nil {
		usage := openaiUsage(u, new(oaCompletionUsage))
		out.Usage = &usage
	}
	f.status = http.StatusOK
	e.add("", &out)
}

func (f *completion) fail(e *encoder, err *Error) {
	f.status = err.Status()
	e.add("", openaiError(err))
}

func (f *completion) catchUp(*encoder) {}

// wholeStatus is the status of the body made, for a whole format.
func (f *completion) wholeStatus() int { return f.status }
