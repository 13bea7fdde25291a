package chat

// ModeOpenAI sends unnamed events whose data are OpenAI
// chat.completion.chunk objects, then "data: [DONE]", so that OpenAI
// client libraries can consume the stream: the answer in delta.content,
// reasoning in delta.reasoning_content (as DeepSeek, Qwen and vLLM send
// it), tool calls in delta.tool_calls (index, id, type and function.name
// on a call's first chunk, function.arguments pieces after it), for the
// calls the client runs. The calls the server runs itself, tool results
// and data parts have no place in that format and are not sent.
const ModeOpenAI Mode = "openai"

func init() {
	registerFormat(ModeOpenAI, formatSpec{
		new: func(info *StreamInfo) wireFormat {
			return &openaiFormat{
				info: info,
				oa:   oaChunk{ID: "chatcmpl-" + info.ID, Object: "chat.completion.chunk", Created: info.Created, Model: info.Model},
			}
		},
		hides: func(r *Record) bool {
			return r.Server || r.Kind == RecordToolCall || r.Kind == RecordToolResult || r.Kind == RecordData || r.Kind == RecordRetract
		},
		doneEvents: func(info *StreamInfo, r *Record) int {
			n := 2 // the finish chunk and [DONE]
			if info.IncludeUsage && r.Usage != nil {
				n++
			}
			return n
		},
	})
}

// OpenAI's chat.completion.chunk, the subset clients read.
type oaChunk struct {
	ID      string     `json:"id"`
	Object  string     `json:"object"`
	Created int64      `json:"created"`
	Model   string     `json:"model"`
	Choices []oaChoice `json:"choices"`
	Usage   *oaUsage   `json:"usage,omitempty"`
}

type oaChoice struct {
	Index        int     `json:"index"`
	Delta        oaDelta `json:"delta"`
	FinishReason *string `json:"finish_reason"`
}

type oaDelta struct {
	Role             string       `json:"role,omitempty"`
	Content          string       `json:"content,omitempty"`
	ReasoningContent string       `json:"reasoning_content,omitempty"`
	ToolCalls        []oaToolCall `json:"tool_calls,omitempty"`
}

type oaToolCall struct {
	Index    int        `json:"index"`
	ID       string     `json:"id,omitempty"`
	Type     string     `json:"type,omitempty"`
	Function oaFunction `json:"function"`
}

type oaFunction struct {
	Name      string `json:"name,omitempty"`
	Arguments string `json:"arguments"`
}

type oaUsage struct {
	PromptTokens            int                `json:"prompt_tokens"`
	CompletionTokens        int                `json:"completion_tokens"`
	TotalTokens             int                `json:"total_tokens"`
	CompletionTokensDetails *oaCompletionUsage `json:"completion_tokens_details,omitempty"`
}

type oaCompletionUsage struct {
	ReasoningTokens int `json:"reasoning_tokens"`
}

// openaiUsage is u in OpenAI's shape; details, when reasoning tokens are
// known, holds their breakdown.
func openaiUsage(u *Usage, details *oaCompletionUsage) oaUsage {
	out := oaUsage{PromptTokens: u.InputTokens, CompletionTokens: u.OutputTokens, TotalTokens: u.TotalTokens}
	if u.ReasoningTokens > 0 {
		*details = oaCompletionUsage{ReasoningTokens: u.ReasoningTokens}
		out.CompletionTokensDetails = details
	}
	return out
}

type oaError struct {
	Error struct {
		Message string `json:"message"`
		Type    string `json:"type"`
		Code    Code   `json:"code"`
	} `json:"error"`
}

// openaiFormat is the openai format. Its payloads are reused.
type openaiFormat struct {
	info     *StreamInfo
	oa       oaChunk
	choice   [1]oaChoice
	call     [1]oaToolCall
	usage    oaUsage
	details  oaCompletionUsage
	oaErr    oaError
	finishR  string
	calls    map[string]int // tool call id -> index, in the order they started
	nextCall int
}

func (f *openaiFormat) chunk(e *encoder, delta oaDelta, finish *string) {
	f.choice[0] = oaChoice{Delta: delta, FinishReason: finish}
	f.oa.Choices = f.choice[:]
	f.oa.Usage = nil
	e.add("", &f.oa)
}

func (f *openaiFormat) start(e *encoder) { f.chunk(e, oaDelta{Role: "assistant"}, nil) }

func (f *openaiFormat) part(e *encoder, r *Record) {
	if r.Server {
		// The server runs the call and gives the model its result: an
		// OpenAI client must neither run it nor send it back.
		e.none()
		return
	}
	if r.Kind == RecordToolStart { // indices count every call, also skipped ones
		if f.calls == nil {
			f.calls = make(map[string]int)
		}
		f.calls[r.ID] = f.nextCall
		f.nextCall++
	}
	if e.skipping() {
		e.none()
		return
	}
	switch r.Kind {
	case RecordText:
		f.chunk(e, oaDelta{Content: r.Text}, nil)
	case RecordReasoning:
		f.chunk(e, oaDelta{ReasoningContent: r.Text}, nil)
	case RecordToolStart:
		f.call[0] = oaToolCall{Index: f.calls[r.ID], ID: r.ID, Type: "function", Function: oaFunction{Name: r.Name}}
		f.chunk(e, oaDelta{ToolCalls: f.call[:]}, nil)
	case RecordToolDelta:
		f.call[0] = oaToolCall{Index: f.calls[r.ID], Function: oaFunction{Arguments: r.Text}}
		f.chunk(e, oaDelta{ToolCalls: f.call[:]}, nil)
	default: // a complete call was streamed already; results and data have no place (see hides)
		e.none()
	}
}

func (f *openaiFormat) finish(e *encoder, r *Record) {
	f.finishR = r.FinishReason
	f.chunk(e, oaDelta{}, &f.finishR)
	if u := r.Usage; f.info.IncludeUsage && u != nil {
		f.usage = openaiUsage(u, &f.details)
		f.oa.Choices = f.choice[:0]
		f.oa.Usage = &f.usage
		e.add("", &f.oa)
	}
	e.addRaw("", "[DONE]")
}

// fail ends a failed stream as OpenAI does: an error object and no [DONE].
func (f *openaiFormat) fail(e *encoder, err *Error) {
	f.oaErr.Error.Message = err.ClientMessage()
	f.oaErr.Error.Type = string(err.Code)
	f.oaErr.Error.Code = err.Code
	e.add("", &f.oaErr)
}

func (f *openaiFormat) catchUp(*encoder) {}
