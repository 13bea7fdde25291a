// Types of ssechat.js, the ssechat client for WeChat mini programs, uni-app
// and Taro (see README.md).

/** The wire mode, sent as ?mode=. */
export type Mode = 'delta' | 'snapshot' | 'openai';

/** What a request function (wx.request, uni.request, Taro.request) is given. */
export interface RequestOptions {
  url: string;
  method: 'POST';
  header: Record<string, string>;
  data: string;
  dataType: 'text';
  responseType: 'arraybuffer' | 'text';
  enableChunked?: boolean;
  timeout?: number;
  success(res: { statusCode?: number; header?: Record<string, string>; data?: ArrayBuffer | string | object }): void;
  fail(res: { errMsg?: string }): void;
}

/** The task a request function returns; every method is optional. */
export interface RequestTask {
  abort?(): void;
  onHeadersReceived?(fn: (res: { header?: Record<string, string>; statusCode?: number }) => void): void;
  offHeadersReceived?(fn?: (res: { header?: Record<string, string>; statusCode?: number }) => void): void;
  onChunkReceived?(fn: (res: { data: ArrayBuffer }) => void): void;
  offChunkReceived?(fn?: (res: { data: ArrayBuffer }) => void): void;
}

export type RequestFunction = (options: RequestOptions) => RequestTask | void | null | undefined;

/** Token counts, as the server's done event reports them. */
export interface Usage {
  input_tokens: number;
  output_tokens: number;
  total_tokens: number;
  /** The part of output_tokens spent reasoning, where the vendor reports it. */
  reasoning_tokens?: number;
}

/**
 * A tool call: 'input' while its arguments stream, 'ready' once complete
 * (the tool runs), then 'done' (output) or 'error' (error) once the server
 * ran it. A call the client must run itself (finish reason tool_calls)
 * stays 'ready'.
 */
export interface ToolCall {
  id: string;
  name: string;
  /** JSON text as the model wrote it, complete once state is not 'input'. */
  arguments: string;
  state: 'input' | 'ready' | 'done' | 'error';
  /** The tool's output (any JSON value), with state 'done'. */
  output?: unknown;
  /** The tool's error, with state 'error'. */
  error?: string;
}

/** A data part of the answer. */
export interface DataPart {
  name: string;
  /** A later part with the same name and id replaces it; '' for none. */
  id: string;
  value: unknown;
  /** Sent for now (a status line), never kept or replayed. */
  transient: boolean;
}

/** Every event, as onEvent sees it. */
export interface StreamEvent {
  /** The event name: start, delta, reasoning, snapshot, tool_call_start, tool_call_delta, tool_call, tool_result, data, done, error, reconnect, or message (openai mode). */
  type: string;
  /** The raw data. */
  data: string;
  /** The last event id ("<stream id>.<n>"). */
  id: string;
  /** data parsed as JSON, or undefined. */
  json: unknown;
}

/** What onDone receives. */
export interface StreamResult {
  text: string;
  /** All the reasoning ('' if the model did not reason aloud). */
  reasoning: string;
  toolCalls: ToolCall[];
  /** The data parts kept (not the transient ones). */
  data: DataPart[];
  finishReason: string;
  usage?: Usage;
  streamId: string;
  lastEventId: string;
  /** How many times the client resumed the answer. */
  resumes: number;
}

/** What onResume receives, before each resume. */
export interface ResumeInfo {
  lastEventId: string;
  /** The code of the cut: interrupted, timeout, network, ... */
  reason: string;
  attempt: number;
}

/**
 * The server's error codes (see the server's README), and the client's own:
 * interrupted, timeout, network, http_error, bad_response.
 */
export type ErrorCode =
  | 'interrupted'
  | 'timeout'
  | 'network'
  | 'http_error'
  | 'bad_response'
  | 'bad_request'
  | 'unauthenticated'
  | 'permission_denied'
  | 'stream_expired'
  | 'method_not_allowed'
  | 'request_timeout'
  | 'request_too_large'
  | 'unsupported_media_type'
  | 'invalid_request'
  | 'rate_limited'
  | 'too_many_readers'
  | 'canceled'
  | 'client_gone'
  | 'internal'
  | 'answer_too_large'
  | 'upstream_error'
  | 'truncated'
  | 'upstream_unavailable'
  | 'unavailable'
  | 'content_filtered'
  | (string & {});

/** What onError receives. */
export class StreamError extends Error {
  constructor(code: ErrorCode, message: string, fields?: Partial<StreamError>);
  name: 'StreamError';
  code: ErrorCode;
  /** The HTTP status, 0 if unknown. */
  status: number;
  /** Whether the same request may succeed later. */
  retryable: boolean;
  /** The text received before the error. */
  text: string;
  /** The reasoning received before the error. */
  reasoning: string;
  streamId: string;
  /** The id of the last event received. */
  lastEventId: string;
}

export interface StreamChatOptions {
  /** The chat endpoint. */
  url: string;
  /** The request body: {messages: [...], ...}. */
  data: { messages: Array<{ role: string; content: string }>; [field: string]: unknown };
  /** Extra request headers (authorization, ...). */
  header?: Record<string, string>;
  mode?: Mode;
  /** Ask for ASCII-only JSON (?ascii=1). */
  ascii?: boolean;
  /** Passed to the request function, in milliseconds. */
  timeout?: number;
  /** wx.request by default; uni.request and Taro.request work the same way. */
  request?: RequestFunction;
  /** false turns resuming off. Default true. */
  resume?: boolean;
  /** Resumes in a row that may bring nothing new. Default 5. */
  maxRetries?: number;
  /** Milliseconds before such a resume, doubled each time. Default 1000. */
  retryDelay?: number;
  /** Resumes for one answer in all. Default 100. */
  maxResumes?: number;
  /** The largest event accepted, in characters. Default 16 Mi. */
  maxEventSize?: number;
  /** Where stop() sends the stream id. Default url + '/stop'. */
  stopURL?: string;
  /** All the text so far, whenever it changes. */
  onText?(text: string): void;
  /** Once, when the answer starts (delta and snapshot modes). */
  onStart?(info: { streamId: string; model: string; aiGenerated: boolean }): void;
  /** All the reasoning so far, whenever it changes. */
  onReasoning?(reasoning: string): void;
  /** A tool call changed; calls is every call so far, in order. */
  onToolCall?(call: ToolCall, calls: ToolCall[]): void;
  /** A data part arrived; data is the parts kept so far. */
  onData?(part: DataPart, data: DataPart[]): void;
  onEvent?(event: StreamEvent): void;
  onResume?(info: ResumeInfo): void;
  /** Once, at the end of a complete answer. */
  onDone?(result: StreamResult): void;
  /** Once, for every other ending. */
  onError?(error: StreamError): void;
}

export interface ChatTask {
  /** Stops at once; no callback is called afterwards. */
  abort(): void;
  /** Aborts, and asks the server to stop the generation (POST stopURL). */
  stop(): void;
}

/** Streams one answer; exactly one of onDone and onError is called, unless the task is aborted first. */
export function streamChat(options: StreamChatOptions): ChatTask;

/** Decodes UTF-8 incrementally, as TextDecoder('utf-8') with {stream: true}. */
export class Utf8Decoder {
  decode(bytes: Uint8Array | null, stream?: boolean): string;
}

/** Parses an event stream pushed in pieces of any size. */
export class EventStreamParser {
  constructor(onEvent: (event: { type: string; data: string; id: string }) => void, maxSize?: number, onOverflow?: () => void);
  push(text: string): void;
  lastEventId: string;
  retry: number | undefined;
}

/** The UTF-8 bytes of a string. */
export function utf8Encode(s: string): Uint8Array;
