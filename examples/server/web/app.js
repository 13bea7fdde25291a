// The example chat page: streams answers from POST ./chat with fetch,
// ReadableStream and TextDecoder, reveals them with a typewriter effect (a
// reasoning model's thinking too, in a collapsible block above the answer,
// and a line per tool call), stops
// them with an AbortController (the server then cancels the upstream), and
// shows every error. No build step, no dependencies.
'use strict';

const $ = (id) => document.getElementById(id);
const chatURL = new URL('chat', location.href);
const history = []; // the conversation sent with each request
let controller = null;
let streamId = ''; // the stream being shown, for a stop

const segmenter = new Intl.Segmenter(undefined, { granularity: 'grapheme' });

// Typewriter shows text in an element at a steady pace, one animation frame
// at a time, never splitting a character.
class Typewriter {
  constructor(el) {
    this.el = el;
    this.target = '';
    this.shown = 0;
    this.step = 1;
    this.ended = false;
    this.frame = 0;
    this.onFinished = null;
  }
  update(text) {
    this.target = text;
    this.step = Math.max(1, Math.ceil((text.length - this.shown) / 12)); // catch up in ~12 frames
    this.schedule();
  }
  finish(onFinished) {
    this.ended = true;
    this.onFinished = onFinished;
    this.step = Math.max(this.step, Math.ceil((this.target.length - this.shown) / 6));
    this.schedule();
  }
  schedule() {
    if (!this.frame) this.frame = requestAnimationFrame(() => this.tick());
  }
  tick() {
    this.frame = 0;
    if (this.shown < this.target.length) {
      const seg = segmenter.segment(this.target).containing(Math.min(this.shown + this.step, this.target.length - 1));
      this.shown = seg.index + seg.segment.length;
      this.el.textContent = this.target.slice(0, this.shown);
      scrollDown();
    }
    if (this.shown < this.target.length) this.schedule();
    else if (this.ended && this.onFinished) this.onFinished();
  }
}

// readEvents yields the events of an event stream body as {type, data, id},
// by the HTML standard's rules (CR, LF or CRLF line ends, comments, multi-line
// data); it returns at the end of the body.
async function* readEvents(body, signal) {
  const reader = body.pipeThrough(new TextDecoderStream()).getReader();
  signal.addEventListener('abort', () => reader.cancel().catch(() => {}));
  let buf = '';
  let data = [];
  let type = '';
  let id = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buf += value;
    let m;
    // A CR at the very end may be the first half of a CRLF: wait for more.
    while ((m = /\r\n|\r(?!$)|\n/.exec(buf))) {
      const line = buf.slice(0, m.index);
      buf = buf.slice(m.index + m[0].length);
      if (line === '') {
        if (data.length) yield { type: type || 'message', data: data.join('\n'), id };
        data = [];
        type = '';
        continue;
      }
      if (line.startsWith(':')) continue;
      const colon = line.indexOf(':');
      const field = colon < 0 ? line : line.slice(0, colon);
      let val = colon < 0 ? '' : line.slice(colon + 1);
      if (val.startsWith(' ')) val = val.slice(1);
      if (field === 'data') data.push(val);
      else if (field === 'event') type = val;
      else if (field === 'id' && !val.includes('\0')) id = val;
    }
  }
}

function scrollDown() {
  const m = $('messages');
  m.scrollTop = m.scrollHeight;
}

function addMessage(role, text) {
  const div = document.createElement('div');
  div.className = 'message ' + role;
  const span = document.createElement('span');
  span.className = 'text';
  span.textContent = text;
  div.append(span);
  $('messages').append(div);
  scrollDown();
  return div;
}

function setStatus(state, text) {
  $('status').dataset.state = state;
  $('status').textContent = text;
}

function showError(err) {
  $('error').hidden = !err;
  $('error').textContent = err ? `${err.message} (${err.code})` : '';
}

function note(div, text) {
  const n = document.createElement('span');
  n.className = 'note';
  n.textContent = text;
  div.append(n);
  scrollDown();
}

// thinkingBlock adds to an answer the collapsible block that shows a
// reasoning model's thinking, above the answer's text.
function thinkingBlock(div) {
  const details = document.createElement('details');
  details.className = 'reasoning';
  details.open = true; // open while the model thinks
  const summary = document.createElement('summary');
  summary.textContent = 'Thinking…';
  const body = document.createElement('div');
  body.className = 'reasoning-text';
  details.append(summary, body);
  div.prepend(details);
  return { details, summary, typewriter: new Typewriter(body) };
}

// toolLine shows a tool call's progress in an answer: a status line while
// it is called and runs, then what it gave.
function toolLine(div, calls, call) {
  let line = calls.get(call.id);
  if (!line) {
    line = document.createElement('div');
    line.className = 'tool';
    div.querySelector('.text').before(line);
    calls.set(call.id, line);
  }
  line.dataset.state = call.state;
  line.textContent = {
    input: `Calling ${call.name}…`,
    ready: `Running ${call.name}…`,
    done: `${call.name} → ${JSON.stringify(call.output)}`,
    error: `${call.name} failed: ${call.error}`,
  }[call.state];
  scrollDown();
}

async function send(content) {
  history.push({ role: 'user', content });
  addMessage('user', content);
  const div = addMessage('assistant', '');
  div.classList.add('typing');
  const typewriter = new Typewriter(div.querySelector('.text'));
  let thinking = null; // the reasoning block, once the model reasons
  let reasoning = '';
  const calls = new Map(); // tool call id -> its line
  const callState = new Map(); // tool call id -> {id, name, state, output, error}
  controller = new AbortController();
  const signal = controller.signal;
  $('send').disabled = true;
  $('stop').disabled = false;
  showError(null);
  setStatus('streaming', 'streaming…');

  let text = '';
  let end = null; // {state, label, error}
  try {
    const res = await fetch(chatURL, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', Accept: 'text/event-stream' },
      body: JSON.stringify({ messages: history }),
      signal,
    });
    if (!res.ok || !(res.headers.get('Content-Type') || '').startsWith('text/event-stream')) {
      const body = await res.json().catch(() => null);
      const e = body && body.error;
      throw Object.assign(new Error(e ? e.message : `HTTP ${res.status}`), { code: e ? e.code : 'http_error' });
    }
    for await (const ev of readEvents(res.body, signal)) {
      const d = JSON.parse(ev.data);
      if (ev.type === 'start') {
        streamId = d.id;
        if (d.ai_generated) {
          // The label that AI answers must carry.
          const label = document.createElement('span');
          label.className = 'ai-label';
          label.textContent = 'AI-generated';
          div.append(label);
        }
      } else if (ev.type === 'delta') {
        if (!text && thinking) thinking.typewriter.finish(() => (thinking.summary.textContent = 'Thought'));
        text += d.text;
        typewriter.update(text);
      } else if (ev.type === 'reasoning') {
        thinking ??= thinkingBlock(div);
        reasoning += d.text;
        thinking.typewriter.update(reasoning);
      } else if (ev.type.startsWith('tool_')) {
        const c = callState.get(d.id) ?? { id: d.id, name: d.name, state: 'input' };
        callState.set(d.id, c);
        if (ev.type === 'tool_call') c.state = 'ready';
        if (ev.type === 'tool_result') Object.assign(c, d.error ? { state: 'error', error: d.error } : { state: 'done', output: d.output });
        toolLine(div, calls, c);
      } else if (ev.type === 'data') {
        // A transient status line from the server while its tool runs.
        const line = [...calls.values()].pop();
        if (d.name === 'status' && line && line.dataset.state === 'ready') line.textContent = d.value;
      } else if (ev.type === 'done') {
        const usage = d.usage ? ` · ${d.usage.output_tokens} tokens` : '';
        end = { state: 'done', label: `done${usage}` };
        break;
      } else if (ev.type === 'error') {
        throw Object.assign(new Error(d.message), { code: d.code });
      }
    }
    if (!end) throw Object.assign(new Error('The connection was lost before the answer was complete.'), { code: 'interrupted' });
  } catch (err) {
    if (signal.aborted) {
      end = { state: 'stopped', label: 'stopped' };
      note(div, 'Stopped');
    } else {
      end = { state: 'error', label: 'failed', error: { code: err.code || 'network', message: err.message } };
    }
  }
  controller = null;
  streamId = '';
  if (text) history.push({ role: 'assistant', content: text });
  $('send').disabled = false;
  $('stop').disabled = true;
  if (end.error) {
    showError(end.error);
    if (end.error.code === 'content_filtered') note(div, 'Filtered: the rest of this answer was withheld');
    else note(div, text ? 'Incomplete' : 'No answer');
  }
  if (thinking) thinking.typewriter.finish(() => (thinking.summary.textContent = 'Thought'));
  typewriter.finish(() => {
    div.classList.remove('typing');
    if (thinking) thinking.details.open = false; // folded: a click opens it
    setStatus(end.state, end.label);
  });
}

$('composer').addEventListener('submit', (e) => {
  e.preventDefault();
  const content = $('input').value.trim();
  if (!content || controller) return;
  $('input').value = '';
  send(content);
});
$('input').addEventListener('keydown', (e) => {
  if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) {
    e.preventDefault();
    $('composer').requestSubmit();
  }
});
// Stop aborts the request, and asks the server to stop the generation: a
// server that keeps generations going for clients that resume (the example
// server does, for 30 s) would otherwise go on, and bill, after the abort.
$('stop').addEventListener('click', () => {
  if (!controller) return;
  const id = streamId;
  controller.abort();
  if (id) {
    fetch(chatURL + '/stop', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ stream_id: id }),
    }).catch(() => {});
  }
});
