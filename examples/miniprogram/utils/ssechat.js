// ssechat client for WeChat mini programs, and for uni-app and Taro on WeChat.
//
// It streams a chat answer from an ssechat server over
// wx.request({enableChunked: true}), which delivers the body as ArrayBuffer
// pieces cut at arbitrary bytes: in the middle of an event, of a line, or of a
// UTF-8 character. The module keeps its own byte buffer, decodes UTF-8
// incrementally (devices have no TextDecoder), and frames events by the SSE
// rules, so no character is garbled and no event is lost or handled twice.
//
// CommonJS, ES2017, no dependencies.
//
//   const { streamChat } = require('../../utils/ssechat')
//   const task = streamChat({
//     url: 'https://api.example.com/chat',
//     data: { messages: [{ role: 'user', content: '你好' }] },
//     onText(text) { ... },        // all the text so far
//     onDone(result) { ... },      // {text, finishReason, usage, streamId, lastEventId, resumes}
//     onError(err) { ... },        // err.code, err.message, err.status, err.retryable, err.text
//   })
//   task.abort()                   // stops at once; no callback fires afterwards
//   task.stop()                    // abort, and ask the server to stop the generation
//
// A response cut before the answer's end (the 60 s cap, backgrounding, a
// network drop, a server rotation) is resumed after the last event id.
'use strict';

// ---------------------------------------------------------------------------
// UTF-8

// Utf8Decoder decodes UTF-8 incrementally, exactly as the WHATWG Encoding
// standard's TextDecoder('utf-8') does with {stream: true}: a character split
// across pieces is held until its last byte arrives, each maximal invalid
// subsequence becomes one U+FFFD, and one leading byte order mark is dropped.
function Utf8Decoder() {
  this._cp = 0; // code point so far
  this._seen = 0; // continuation bytes seen
  this._needed = 0; // continuation bytes needed
  this._lower = 0x80;
  this._upper = 0xbf;
  this._bomSeen = false;
}

// decode returns the text of bytes (a Uint8Array). With stream false it also
// ends the input: an incomplete character at the end becomes U+FFFD.
Utf8Decoder.prototype.decode = function (bytes, stream) {
  const units = [];
  let out = '';
  const emit = (cp) => {
    if (!this._bomSeen) {
      this._bomSeen = true;
      if (cp === 0xfeff) return;
    }
    if (cp > 0xffff) {
      cp -= 0x10000;
      units.push(0xd800 + (cp >> 10), 0xdc00 + (cp & 0x3ff));
    } else {
      units.push(cp);
    }
    if (units.length >= 8192) {
      out += String.fromCharCode.apply(null, units);
      units.length = 0;
    }
  };
  const n = bytes ? bytes.length : 0;
  for (let i = 0; i < n; i++) {
    const b = bytes[i];
    if (this._needed === 0) {
      if (b <= 0x7f) {
        emit(b);
      } else if (b >= 0xc2 && b <= 0xdf) {
        this._needed = 1;
        this._cp = b & 0x1f;
      } else if (b >= 0xe0 && b <= 0xef) {
        if (b === 0xe0) this._lower = 0xa0;
        if (b === 0xed) this._upper = 0x9f;
        this._needed = 2;
        this._cp = b & 0xf;
      } else if (b >= 0xf0 && b <= 0xf4) {
        if (b === 0xf0) this._lower = 0x90;
        if (b === 0xf4) this._upper = 0x8f;
        this._needed = 3;
        this._cp = b & 0x7;
      } else {
        emit(0xfffd);
      }
      continue;
    }
    if (b < this._lower || b > this._upper) {
      // The sequence so far is one error; b starts afresh.
      this._reset();
      emit(0xfffd);
      i--;
      continue;
    }
    this._lower = 0x80;
    this._upper = 0xbf;
    this._cp = (this._cp << 6) | (b & 0x3f);
    this._seen++;
    if (this._seen === this._needed) {
      const cp = this._cp;
      this._reset();
      emit(cp);
    }
  }
  if (!stream) {
    if (this._needed !== 0) {
      this._reset();
      emit(0xfffd);
    }
    this._bomSeen = false;
  }
  if (units.length > 0) out += String.fromCharCode.apply(null, units);
  return out;
};

Utf8Decoder.prototype._reset = function () {
  this._cp = 0;
  this._seen = 0;
  this._needed = 0;
  this._lower = 0x80;
  this._upper = 0xbf;
};

// utf8Encode returns the UTF-8 bytes of a string (lone surrogates become
// U+FFFD, as TextEncoder does).
function utf8Encode(s) {
  const out = [];
  for (let i = 0; i < s.length; i++) {
    let c = s.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length) {
      const d = s.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) {
        c = 0x10000 + ((c - 0xd800) << 10) + (d - 0xdc00);
        i++;
      }
    }
    if (c >= 0xd800 && c <= 0xdfff) c = 0xfffd;
    if (c < 0x80) {
      out.push(c);
    } else if (c < 0x800) {
      out.push(0xc0 | (c >> 6), 0x80 | (c & 0x3f));
    } else if (c < 0x10000) {
      out.push(0xe0 | (c >> 12), 0x80 | ((c >> 6) & 0x3f), 0x80 | (c & 0x3f));
    } else {
      out.push(0xf0 | (c >> 18), 0x80 | ((c >> 12) & 0x3f), 0x80 | ((c >> 6) & 0x3f), 0x80 | (c & 0x3f));
    }
  }
  return new Uint8Array(out);
}

// ---------------------------------------------------------------------------
// Server-Sent Events

// EventStreamParser parses an event stream as the HTML standard specifies,
// from text pushed in pieces of any size: lines end with CR, LF or CRLF (a
// CRLF may be split between pieces), lines starting with ":" are comments,
// and an event is dispatched at a blank line. onEvent gets
// {type, data, id}: type defaults to "message", data joins the data lines
// with "\n", and id is the last event ID at that point. An event that the
// stream ends before its blank line is discarded, as the standard says.
//
// maxSize, if given, bounds the event being received (its incomplete line
// and its data lines so far, in characters): past it onOverflow is called
// once and the parser takes nothing more.
function EventStreamParser(onEvent, maxSize, onOverflow) {
  this._onEvent = onEvent;
  this._max = maxSize || Infinity;
  this._onOverflow = onOverflow;
  this._dataSize = 0; // characters of the event's data lines so far
  this._over = false;
  this._buf = ''; // an incomplete line
  this._afterCR = false; // the last line ended with CR: skip one LF
  this._data = [];
  this._type = '';
  this.lastEventId = '';
  this.retry = undefined; // the last valid retry field, in milliseconds
}

EventStreamParser.prototype.push = function (text) {
  if (this._over) return;
  let start = 0;
  if (this._afterCR && text.length > 0) {
    this._afterCR = false;
    if (text.charCodeAt(0) === 10) start = 1;
  }
  // The next LF and CR at or after start; -1 once there are none. Each is
  // searched again only when passed, so a long piece is scanned once.
  let lf = -2;
  let cr = -2;
  for (;;) {
    if (lf !== -1 && lf < start) lf = text.indexOf('\n', start);
    if (cr !== -1 && cr < start) cr = text.indexOf('\r', start);
    let end = lf;
    if (end < 0 || (cr >= 0 && cr < end)) end = cr;
    if (end < 0) break;
    let line = text.slice(start, end);
    if (this._buf !== '') {
      line = this._buf + line;
      this._buf = '';
    }
    start = end + 1;
    if (end === cr) {
      if (start < text.length) {
        if (text.charCodeAt(start) === 10) start++;
      } else {
        this._afterCR = true;
      }
    }
    this._line(line);
    if (this._over) return;
  }
  if (start < text.length) {
    this._buf += text.slice(start);
    this._check();
  }
};

// _check ends parsing when the event being received is larger than allowed.
EventStreamParser.prototype._check = function () {
  if (this._dataSize + this._buf.length > this._max && !this._over) {
    this._over = true;
    this._buf = '';
    this._data = [];
    if (this._onOverflow) this._onOverflow();
  }
};

EventStreamParser.prototype._line = function (line) {
  if (line === '') {
    this._dataSize = 0;
    if (this._data.length > 0) {
      const ev = { type: this._type || 'message', data: this._data.join('\n'), id: this.lastEventId };
      this._data = [];
      this._type = '';
      this._onEvent(ev);
    } else {
      this._type = '';
    }
    return;
  }
  if (line.charCodeAt(0) === 58) return; // ":" comment
  let field = line;
  let value = '';
  const colon = line.indexOf(':');
  if (colon >= 0) {
    field = line.slice(0, colon);
    value = line.slice(colon + 1);
    if (value.charCodeAt(0) === 32) value = value.slice(1);
  }
  switch (field) {
    case 'event':
      this._type = value;
      break;
    case 'data':
      this._data.push(value);
      this._dataSize += value.length + 1;
      this._check();
      break;
    case 'id':
      if (value.indexOf('\0') < 0) this.lastEventId = value;
      break;
    case 'retry':
      if (/^[0-9]+$/.test(value)) this.retry = parseInt(value, 10);
      break;
    default:
  }
};

// ---------------------------------------------------------------------------
// streamChat

const MODES = ['delta', 'snapshot', 'openai'];
const MAX_ERROR_BODY = 64 * 1024;
const RETRYABLE_STATUS = [429, 503, 504];

// StreamError is what onError receives. code is the server's error code
// ("rate_limited", "upstream_error", ...), or one of the client's own:
// "interrupted" (the response ended or broke without a terminal event),
// "timeout" (the request function timed out), "network" (no answer),
// "http_error" (a non-2xx status without an ssechat JSON error) or
// "bad_response" (a 2xx answer that is not an event stream).
class StreamError extends Error {
  constructor(code, message, fields) {
    super(message);
    this.name = 'StreamError';
    this.code = code;
    this.status = 0; // the HTTP status, 0 if unknown
    this.retryable = false;
    this.text = ''; // the text received before the error
    this.streamId = '';
    this.lastEventId = ''; // the id of the last event received, for resuming
    Object.assign(this, fields);
  }
}

function defaultRequest() {
  /* global wx */
  if (typeof wx !== 'undefined' && wx && typeof wx.request === 'function') return wx.request;
  return null;
}

function withQuery(url, params) {
  let out = url;
  Object.keys(params).forEach((k) => {
    if (params[k] === undefined) return;
    out += (out.indexOf('?') >= 0 ? '&' : '?') + encodeURIComponent(k) + '=' + encodeURIComponent(params[k]);
  });
  return out;
}

function headerValue(header, name) {
  if (!header) return '';
  const keys = Object.keys(header);
  for (let i = 0; i < keys.length; i++) {
    if (keys[i].toLowerCase() === name) return String(header[keys[i]]);
  }
  return '';
}

function toBytes(data) {
  if (data === undefined || data === null || data === '') return null;
  if (data instanceof ArrayBuffer) return new Uint8Array(data);
  if (ArrayBuffer.isView(data)) return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  if (typeof data === 'string') return utf8Encode(data);
  return null;
}

function callSafely(fn, arg, arg2) {
  if (typeof fn !== 'function') return;
  try {
    fn(arg, arg2);
  } catch (e) {
    // A failing callback must not leave the parser half-way through a
    // piece, which would handle events twice; report it on its own.
    setTimeout(() => {
      throw e;
    }, 0);
  }
}

// streamChat POSTs options.data as JSON to options.url and streams the
// answer. When the response is cut before the answer's end (WeChat's 60 s
// cap, the app going to the background, a network drop, or the server
// rotating the response), it resumes on its own: it asks again with the
// last event id it saw and gets exactly the rest, so onText goes on with
// one continuous answer. Options:
//   url      the chat endpoint (required)
//   data     the request body, {messages: [...], ...} (required)
//   header   extra request headers (authorization, ...)
//   mode     'delta' (the server's default if omitted), 'snapshot' or
//            'openai'; sent as ?mode=
//   ascii    true asks the server for ASCII-only JSON (?ascii=1)
//   timeout  passed to the request function, in milliseconds
//   request  the request function: wx.request by default; uni.request and
//            Taro.request work the same way
//   resume      false turns resuming off (default true)
//   maxRetries  resumes in a row that may bring nothing new (default 5)
//   maxResumes  resumes for one answer in all (default 100); then the
//               answer ends with the last cut's error
//   maxEventSize  the largest event accepted, in characters (default 16 MiB);
//               a larger one ends the answer with bad_response
//   retryDelay  ms before such a resume, doubled each time (default 1000);
//               a resume after progress or a rotation goes at once
//   stopURL     where stop() sends the stream id (default url + '/stop')
//   onText(text)     all the text so far, whenever it changes
//   onReasoning(reasoning)  all the reasoning so far (a reasoning model's
//                    thinking, shown apart from the answer), whenever it
//                    changes
//   onToolCall(call, calls)  a tool call changed: call is {id, name,
//                    arguments, state, output, error}, state 'input' while
//                    its arguments stream, 'ready' once complete (the tool
//                    runs), 'done' with output or 'error' with error once
//                    the server ran it; calls is every call so far, in order
//   onData(part, data)  a data part arrived: part is {name, id, value,
//                    transient}; data is the parts kept so far, in order, a
//                    part with the name and id of an earlier one replacing it
//                    (transient parts are passed to onData but not kept)
//   onStart(info)    once, when the answer starts: {streamId, model,
//                    aiGenerated} (aiGenerated: the server marks its answers
//                    as AI-generated, and the page must show the label)
//   onEvent(event)   every event: {type, data, id, json}
//   onResume(info)   before each resume: {lastEventId, reason, attempt}
//   onDone(result)   once, at the end of a complete answer
//   onError(error)   once, with a StreamError, for every other ending
// It returns a task with abort(), which stops at once (the server cancels
// the generation, unless it detaches), and stop(), which aborts and asks the
// server to stop the generation too. Exactly one of onDone and onError is
// called, unless the task is aborted first; after abort() nothing is.
function copyCall(c) {
  return { id: c.id, name: c.name, arguments: c.arguments, state: c.state, output: c.output, error: c.error };
}

function streamChat(options) {
  if (!options || typeof options !== 'object') throw new TypeError('streamChat: options must be an object');
  if (typeof options.url !== 'string' || options.url === '') throw new TypeError('streamChat: options.url must be a non-empty string');
  if (!options.data || typeof options.data !== 'object') throw new TypeError('streamChat: options.data must be the request body object');
  if (options.mode !== undefined && MODES.indexOf(options.mode) < 0) {
    throw new TypeError('streamChat: options.mode must be one of ' + MODES.join(', '));
  }
  ['maxRetries', 'retryDelay', 'maxResumes', 'maxEventSize'].forEach((k) => {
    if (options[k] !== undefined && !(typeof options[k] === 'number' && options[k] >= 0)) {
      throw new TypeError('streamChat: options.' + k + ' must be a number >= 0');
    }
  });
  const request = options.request || defaultRequest();
  if (typeof request !== 'function') throw new TypeError('streamChat: no request function (pass options.request)');
  const resume = options.resume !== false;
  const maxRetries = options.maxRetries === undefined ? 5 : options.maxRetries;
  const retryDelay = options.retryDelay === undefined ? 1000 : options.retryDelay;
  const maxResumes = options.maxResumes === undefined ? 100 : options.maxResumes;
  const maxEventSize = options.maxEventSize === undefined ? 16 * 1024 * 1024 : options.maxEventSize;

  let finished = false; // a terminal callback ran, or abort()
  let text = '';
  let reasoning = '';
  const calls = []; // tool calls, in the order they started
  const callsById = {};
  const callsByIndex = {}; // openai mode: calls by their index
  const data = []; // data parts kept
  let started = false; // onStart was called
  let streamId = '';
  let finishReason = '';
  let usage;
  let lastEventId = ''; // of the last event with an id, over all attempts
  let lastSeq = -1; // n of the last id "<stream id>.<n>" applied
  let resumes = 0;
  let idle = 0; // resumes in a row that brought no event
  let current = null; // the running attempt
  let timer = null; // a resume waiting for its delay

  function done() {
    finished = true;
    current.detach();
    // Calls still open when the answer ends are complete.
    calls.forEach((c) => {
      if (c.state === 'input') setCall(c, { state: 'ready' });
    });
    callSafely(options.onDone, {
      text: text,
      reasoning: reasoning,
      toolCalls: calls.map(copyCall),
      data: data.slice(),
      finishReason: finishReason,
      usage: usage,
      streamId: streamId,
      lastEventId: lastEventId,
      resumes: resumes,
    });
  }

  function fail(code, message, fields) {
    finished = true;
    if (current) current.detach();
    const err = new StreamError(code, message, fields);
    err.text = text;
    err.reasoning = reasoning;
    err.streamId = streamId;
    err.lastEventId = lastEventId;
    callSafely(options.onError, err);
  }

  function setText(t) {
    if (t === text) return;
    text = t;
    callSafely(options.onText, text);
  }

  function setReasoning(r) {
    if (r === reasoning) return;
    reasoning = r;
    callSafely(options.onReasoning, reasoning);
  }

  // callFor returns the call with id, starting it if it is new.
  function callFor(id, name) {
    let c = callsById[id];
    if (!c) {
      c = { id: id, name: name || '', arguments: '', state: 'input', output: undefined, error: undefined };
      callsById[id] = c;
      calls.push(c);
    }
    return c;
  }

  function setCall(c, fields) {
    Object.assign(c, fields);
    callSafely(options.onToolCall, copyCall(c), calls.map(copyCall));
  }

  function addData(d) {
    if (typeof d.name !== 'string') return;
    const part = { name: d.name, id: typeof d.id === 'string' ? d.id : '', value: d.value, transient: !!d.transient };
    if (!part.transient) {
      const i = part.id ? data.findIndex((o) => o.name === part.name && o.id === part.id) : -1;
      if (i >= 0) data[i] = part;
      else data.push(part);
    }
    callSafely(options.onData, part, data.slice());
  }

  // cut decides what to do when an attempt ended without the answer's end:
  // resume after the last event id, or give up with the error.
  function cut(code, message, fields, progressed, rotated) {
    if (finished) return;
    current.detach();
    if (!resume || !lastEventId) {
      fail(code, message, fields);
      return;
    }
    // A rotation that brought no new event is no progress, and the resumes
    // of one answer are bounded in all, so that a server that does not
    // resume (or rotates for ever) cannot keep the client asking.
    idle = progressed ? 0 : idle + 1;
    if (idle > maxRetries || resumes >= maxResumes) {
      fail(code, message, fields);
      return;
    }
    resumes++;
    callSafely(options.onResume, { lastEventId: lastEventId, reason: code, attempt: resumes });
    if (finished) return; // onResume aborted
    const delay = idle === 0 || (rotated && idle === 1) ? 0 : retryDelay * Math.pow(2, idle - 1);
    timer = setTimeout(() => {
      timer = null;
      if (!finished) attempt(lastEventId);
    }, delay);
  }

  // attempt sends one request: the first, or a resume after resumeFrom.
  function attempt(resumeFrom) {
    let ended = false; // this attempt is over
    let phase = 'pending'; // 'pending' | 'stream' | 'body'
    let status = 0;
    let contentType = '';
    let received = 0; // bytes delivered by chunk callbacks
    let held = []; // bytes received while the phase was pending
    let body = []; // bytes of a non-stream answer
    let bodySize = 0;
    let progressed = false; // an event with an id arrived
    let rotated = false; // the server said to reconnect
    const decoder = new Utf8Decoder();
    const parser = new EventStreamParser(onSSE, maxEventSize, () => {
      if (over()) return;
      const t = task;
      fail('bad_response', 'an event is larger than ' + maxEventSize + ' characters', { status: status });
      if (t && typeof t.abort === 'function') t.abort();
    });
    let task = null;

    function over() {
      return finished || ended;
    }

    function detach() {
      ended = true;
      if (!task) return;
      if (typeof task.offChunkReceived === 'function') task.offChunkReceived(onChunk);
      if (typeof task.offHeadersReceived === 'function') task.offHeadersReceived(onHeaders);
    }

    function failWith(code, message, fields) {
      const f = Object.assign({ status: status }, fields);
      if (resumeFrom && f.retryable) cut(code, message, f, false, false);
      else fail(code, message, f);
    }

    function onSSE(ev) {
      if (over()) return;
      let json;
      try {
        json = JSON.parse(ev.data);
      } catch (e) {
        json = undefined;
      }
      if (ev.id && ev.type !== 'reconnect') {
        const m = /^(.+)\.(\d+)$/.exec(ev.id);
        const seq = m ? parseInt(m[2], 10) : -1;
        const sameStream = !streamId || !m || m[1] === streamId;
        if (m && lastSeq >= 0 && (!sameStream || seq <= lastSeq || (resumeFrom && ev.type === 'start'))) {
          // Not after the last event applied: never apply it twice. A
          // resume that starts over is a server that does not resume.
          if (!resumeFrom) return;
          const t = task;
          fail('bad_response', 'the server sent the answer again from the start instead of resuming after ' + lastEventId, { status: status });
          if (t && typeof t.abort === 'function') t.abort();
          return;
        }
        if (!m && ev.id === lastEventId) return; // an id of another shape, seen already
        lastEventId = ev.id;
        if (m) lastSeq = seq;
        progressed = true;
        if (!streamId) streamId = m ? m[1] : ev.id.split('.')[0];
      }
      callSafely(options.onEvent, { type: ev.type, data: ev.data, id: ev.id, json: json });
      if (over()) return; // onEvent aborted
      const d = json && typeof json === 'object' ? json : {};
      switch (ev.type) {
        case 'start':
          if (typeof d.id === 'string') streamId = d.id;
          if (!started) {
            started = true;
            callSafely(options.onStart, { streamId: streamId, model: typeof d.model === 'string' ? d.model : '', aiGenerated: !!d.ai_generated });
          }
          break;
        case 'delta':
          if (typeof d.text === 'string') setText(text + d.text);
          break;
        case 'snapshot':
          if (typeof d.reasoning === 'string') setReasoning(d.reasoning);
          if (typeof d.text === 'string') setText(d.text);
          break;
        case 'reasoning':
          if (typeof d.text === 'string') setReasoning(reasoning + d.text);
          break;
        case 'retract':
          // Moderation took back the text shown: show this instead.
          if (typeof d.text === 'string') setText(d.text);
          break;
        case 'tool_call_start':
          if (typeof d.id === 'string') setCall(callFor(d.id, d.name), {});
          break;
        case 'tool_call_delta':
          if (typeof d.id === 'string' && typeof d.arguments_delta === 'string') {
            const c = callFor(d.id);
            setCall(c, { arguments: c.arguments + d.arguments_delta });
          }
          break;
        case 'tool_call':
          if (typeof d.id === 'string') setCall(callFor(d.id, d.name), { name: d.name || '', arguments: d.arguments || '', state: 'ready' });
          break;
        case 'tool_result':
          if (typeof d.id === 'string') {
            const c = callFor(d.id, d.name);
            if (typeof d.error === 'string' && d.error) setCall(c, { state: 'error', error: d.error });
            else setCall(c, { state: 'done', output: d.output });
          }
          break;
        case 'data':
          addData(d);
          break;
        case 'done':
          finishReason = d.finish_reason || '';
          usage = d.usage;
          done();
          break;
        case 'error':
          fail(d.code || 'internal', d.message || 'the stream failed', { retryable: !!d.retryable, status: status });
          break;
        case 'reconnect':
          // The server ends this response on purpose; the rest follows
          // after the last event id.
          rotated = true;
          if (typeof d.last_event_id === 'string' && d.last_event_id) lastEventId = d.last_event_id;
          break;
        case 'message':
          onOpenAIChunk(ev.data, json);
          break;
        default:
      }
    }

    // onOpenAIChunk handles the unnamed events of mode 'openai'.
    function onOpenAIChunk(data, json) {
      if (data === '[DONE]') {
        done();
        return;
      }
      if (!json || typeof json !== 'object') return;
      if (json.error) {
        const e = json.error;
        fail(e.code || e.type || 'upstream_error', e.message || 'the stream failed', { status: status });
        return;
      }
      if (!streamId && typeof json.id === 'string') streamId = json.id.replace(/^chatcmpl-/, '');
      if (json.usage) {
        usage = {
          input_tokens: json.usage.prompt_tokens,
          output_tokens: json.usage.completion_tokens,
          total_tokens: json.usage.total_tokens,
        };
        const details = json.usage.completion_tokens_details;
        if (details && typeof details.reasoning_tokens === 'number') usage.reasoning_tokens = details.reasoning_tokens;
      }
      const choice = json.choices && json.choices[0];
      if (!choice) return;
      const delta = choice.delta || {};
      if (typeof delta.reasoning_content === 'string' && delta.reasoning_content) setReasoning(reasoning + delta.reasoning_content);
      if (typeof delta.content === 'string') setText(text + delta.content);
      if (Array.isArray(delta.tool_calls)) {
        delta.tool_calls.forEach((tc) => {
          if (!tc || typeof tc.index !== 'number') return;
          const fn = tc.function || {};
          let c = callsByIndex[tc.index];
          if (!c) {
            // A call's first piece has its id and name; a resume in the
            // middle of a call has neither.
            c = callFor(typeof tc.id === 'string' && tc.id ? tc.id : 'call_' + tc.index, fn.name);
            callsByIndex[tc.index] = c;
          }
          setCall(c, { arguments: c.arguments + (typeof fn.arguments === 'string' ? fn.arguments : '') });
        });
      }
      if (choice.finish_reason) finishReason = choice.finish_reason;
    }

    // decide picks the phase from what is known of the response.
    function decide() {
      if (phase !== 'pending') return;
      const sse = contentType.toLowerCase().indexOf('text/event-stream') >= 0;
      if (status && (status < 200 || status > 299)) phase = 'body';
      else if (sse) phase = 'stream';
      else if (status || contentType) phase = 'body';
      else return; // neither status nor headers yet: keep holding
      const h = held;
      held = [];
      h.forEach(feed);
    }

    function feed(bytes) {
      if (over() || bytes.length === 0) return;
      if (phase === 'pending') {
        held.push(bytes);
      } else if (phase === 'stream') {
        parser.push(decoder.decode(bytes, true));
      } else if (bodySize < MAX_ERROR_BODY) {
        body.push(bytes);
        bodySize += bytes.length;
      }
    }

    function onHeaders(res) {
      if (over() || !res) return;
      if (typeof res.statusCode === 'number') status = res.statusCode;
      contentType = headerValue(res.header, 'content-type');
      decide();
    }

    function onChunk(res) {
      if (over() || !res) return;
      const bytes = toBytes(res.data);
      if (!bytes) return;
      received += bytes.length;
      feed(bytes);
    }

    function end() {
      if (over()) return;
      if (phase === 'stream') {
        // An event that the response ends before its blank line is dropped.
        parser.push(decoder.decode(null, false));
        if (!over()) {
          cut('interrupted', 'the response ended before the answer was complete', { retryable: true, status: status }, progressed, rotated);
        }
        return;
      }
      endBody();
    }

    function endBody() {
      const all = new Uint8Array(bodySize);
      let off = 0;
      body.forEach((b) => {
        all.set(b, off);
        off += b.length;
      });
      let parsed;
      try {
        parsed = JSON.parse(new Utf8Decoder().decode(all, false));
      } catch (e) {
        parsed = undefined;
      }
      endWithJSON(parsed);
    }

    function endWithJSON(parsed) {
      const e = parsed && parsed.error;
      const ok = status >= 200 && status <= 299;
      if (e && typeof e === 'object' && typeof e.code === 'string') {
        failWith(e.code, typeof e.message === 'string' ? e.message : 'request failed', {
          retryable: RETRYABLE_STATUS.indexOf(status) >= 0,
        });
      } else if (status === 204 && resumeFrom) {
        fail('interrupted', 'the server has no more events after ' + resumeFrom, { status: status });
      } else if (ok) {
        fail('bad_response', 'the server did not answer with an event stream', { status: status });
      } else {
        failWith('http_error', 'HTTP ' + status, { retryable: RETRYABLE_STATUS.indexOf(status) >= 0 || status === 502 });
      }
    }

    function onSuccess(res) {
      if (over()) return;
      res = res || {};
      if (!status && typeof res.statusCode === 'number') status = res.statusCode;
      if (!contentType) contentType = headerValue(res.header, 'content-type');
      if (phase === 'pending') {
        if (!status) status = 200;
        decide();
      }
      const data = res.data;
      if (data && typeof data === 'object' && !(data instanceof ArrayBuffer) && !ArrayBuffer.isView(data)) {
        // The platform parsed a JSON answer for us.
        if (phase === 'body' && bodySize === 0) {
          endWithJSON(data);
          return;
        }
      } else {
        // Some platforms deliver the whole body here, with or without chunks
        // before: handle only the bytes the chunks did not.
        const bytes = toBytes(data);
        if (bytes && bytes.length > received) feed(bytes.subarray(received));
      }
      end();
    }

    function onFail(res) {
      if (over()) return;
      const msg = String((res && res.errMsg) || 'request failed');
      let code = 'network';
      if (/timeout|timed out/i.test(msg)) code = 'timeout';
      else if (received > 0 || /interrupt/i.test(msg)) code = 'interrupted';
      if (phase === 'stream') parser.push(decoder.decode(null, false)); // whole events only
      if (!over()) cut(code, msg, { retryable: true, status: status }, progressed, rotated);
    }

    const header = Object.assign({}, options.header);
    if (!headerValue(header, 'content-type')) header['Content-Type'] = 'application/json';
    if (!headerValue(header, 'accept')) header.Accept = 'text/event-stream';
    const req = {
      // A resume names its position in the query and needs no body.
      url: withQuery(options.url, { mode: options.mode, ascii: options.ascii ? '1' : undefined, last_event_id: resumeFrom }),
      method: 'POST',
      header: header,
      data: resumeFrom ? '{}' : JSON.stringify(options.data),
      dataType: 'text',
      responseType: 'arraybuffer',
      enableChunked: true,
      success: onSuccess,
      fail: onFail,
    };
    if (options.timeout) req.timeout = options.timeout;
    current = {
      detach: detach,
      abort() {
        detach();
        if (task && typeof task.abort === 'function') task.abort();
      },
    };
    task = request(req) || null;
    if (task && !over()) {
      if (typeof task.onHeadersReceived === 'function') task.onHeadersReceived(onHeaders);
      if (typeof task.onChunkReceived === 'function') task.onChunkReceived(onChunk);
    }
  }

  function abort() {
    if (finished) return;
    finished = true;
    if (timer !== null) clearTimeout(timer);
    timer = null;
    if (current) current.abort();
  }

  attempt(undefined);

  return {
    abort: abort,
    // stop aborts and asks the server to stop the generation, which a
    // server that detaches would otherwise keep going for a while.
    stop() {
      const id = streamId || lastEventId.split('.')[0];
      const wasFinished = finished;
      abort();
      if (wasFinished || !id) return;
      const header = Object.assign({}, options.header, { 'Content-Type': 'application/json' });
      request({
        url: options.stopURL || options.url.split('?')[0].replace(/\/$/, '') + '/stop',
        method: 'POST',
        header: header,
        data: JSON.stringify({ stream_id: id }),
        dataType: 'text',
        responseType: 'text',
        success() {},
        fail() {},
      });
    },
  };
}

module.exports = {
  streamChat: streamChat,
  StreamError: StreamError,
  Utf8Decoder: Utf8Decoder,
  EventStreamParser: EventStreamParser,
  utf8Encode: utf8Encode,
};
