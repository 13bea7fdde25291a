// A usage sample that must type-check against the package's declarations
// (test/package.test.js runs tsc on it), as a uni-app or Taro project would
// write it.
import { streamChat, StreamError, StreamResult, ErrorCode, RequestFunction, ToolCall, DataPart } from 'ssechat-miniprogram';
import { createTypewriter } from 'ssechat-miniprogram/typewriter';

declare const uni: { request: RequestFunction };

const shown: string[] = [];
const tw = createTypewriter((text: string, finished: boolean) => {
  shown.push(finished ? text + ' (done)' : text);
}, { interval: 50 });

const task = streamChat({
  url: 'https://api.example.com/chat',
  data: { messages: [{ role: 'user', content: '你好' }], model: 'deepseek-chat' },
  header: { Authorization: 'Bearer token' },
  mode: 'snapshot',
  ascii: true,
  request: uni.request,
  resume: true,
  maxRetries: 3,
  retryDelay: 500,
  maxResumes: 50,
  maxEventSize: 1 << 20,
  onText: tw.update,
  onStart: (info) => console.log(info.streamId, info.model, info.aiGenerated ? 'AI生成' : ''),
  onReasoning: (reasoning: string) => console.log('thinking:', reasoning.length),
  onToolCall: (call: ToolCall, calls: ToolCall[]) => {
    const running: boolean = call.state === 'ready';
    console.log(call.id, call.name, call.arguments, running, call.output, call.error, calls.length);
  },
  onData: (part: DataPart, data: DataPart[]) => console.log(part.name, part.id, part.value, part.transient, data.length),
  onEvent: (e) => console.log(e.type, e.id, e.data.length),
  onResume: (info) => console.log(info.lastEventId, info.reason, info.attempt),
  onDone: (r: StreamResult) => {
    tw.finish();
    const tokens: number | undefined = r.usage && r.usage.total_tokens;
    const reasoningTokens: number | undefined = r.usage && r.usage.reasoning_tokens;
    console.log(r.text, r.reasoning, r.toolCalls.length, r.data.length, r.finishReason, r.streamId, r.resumes, tokens, reasoningTokens);
  },
  onError: (err: StreamError) => {
    tw.finish();
    const code: ErrorCode = err.code;
    if (code === 'client_gone' || !err.retryable) console.log('final:', err.message, err.status, err.text, err.reasoning, err.lastEventId);
  },
});
task.stop();
task.abort();
