// The Vercel AI SDK's own client code (the ai package: DefaultChatTransport,
// readUIMessageStream, AbstractChat as useChat runs it) against the example
// server's /api/chat, the UI message stream. SSECHAT_UI_URL: the mock
// thinking aloud and running its tool, no delay; SSECHAT_UI_SLOW_URL: the
// same, slow, for a stop; SSECHAT_UI_QUICK_URL: the same, quicker, for
// resumes; SSECHAT_UI_UPSTREAM_URL: a
// fake OpenAI upstream, for a mid-stream error. SSECHAT_CAPTURE_DIR gets
// the request bodies useChat sent, which the Go test decodes.
import test from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { AbstractChat, DefaultChatTransport, readUIMessageStream } from 'ai';

function env(name) {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set: run these tests with "go test ./examples/server -run TestNodeClients"`);
  return v;
}
const FAST = env('SSECHAT_UI_URL');
const SLOW = env('SSECHAT_UI_SLOW_URL');
const UPSTREAM = env('SSECHAT_UI_UPSTREAM_URL');
const QUICK = env('SSECHAT_UI_QUICK_URL'); // the mock waits 1 ms a chunk: cut, it is still running

// State is the ChatState that useChat keeps in React; here, plain arrays.
class State {
  constructor() {
    this.status = 'ready';
    this.error = undefined;
    this.messages = [];
    this.watchers = [];
  }
  // until resolves once cond(messages) holds after a change.
  until(cond) {
    return new Promise((resolve) => this.watchers.push({ cond, resolve }));
  }
  changed() {
    this.watchers = this.watchers.filter((w) => (w.cond(this.messages) ? (w.resolve(), false) : true));
  }
  pushMessage(m) {
    this.messages = this.messages.concat(m);
    this.changed();
  }
  popMessage() {
    this.messages = this.messages.slice(0, -1);
  }
  replaceMessage(i, m) {
    this.messages = [...this.messages.slice(0, i), this.snapshot(m), ...this.messages.slice(i + 1)];
    this.changed();
  }
  snapshot(v) {
    return structuredClone(v);
  }
}

class Chat extends AbstractChat {
  constructor(options) {
    const state = new State();
    super({ ...options, state });
    this.chatState = state;
  }
}

const message = '你好 👋🏽 e\u0301';

// checkAnswer asserts an assistant message as useChat builds it for msg:
// the reasoning part, the tool part (run on the server), the text, exactly.
function checkAnswer(m, label, msg = message) {
  const reasoning = 'Thinking about: ' + msg;
  const answer = `Your message has ${Array.from(msg).length} characters.`;
  const args = { text: msg };
  assert.equal(m.role, 'assistant', label);
  const kinds = m.parts.filter((p) => p.type !== 'step-start').map((p) => p.type);
  assert.deepEqual(kinds, ['reasoning', 'tool-message_length', 'text'], label);
  const [r, tool, text] = m.parts.filter((p) => p.type !== 'step-start');
  assert.equal(r.text, reasoning, label);
  assert.equal(r.state, 'done', label);
  assert.equal(tool.toolCallId, 'call_1', label);
  assert.equal(tool.state, 'output-available', label);
  assert.deepEqual(tool.input, args, label);
  assert.deepEqual(tool.output, { characters: Array.from(msg).length }, label);
  assert.equal(tool.providerExecuted, true, label);
  assert.equal(text.text, answer, label);
  assert.equal(text.state, 'done', label);
}

test('DefaultChatTransport + readUIMessageStream: reasoning, the tool call and the text, exact', async () => {
  const transport = new DefaultChatTransport({ api: FAST });
  const stream = await transport.sendMessages({
    chatId: 'chat-read', trigger: 'submit-message', messageId: undefined,
    messages: [{ id: 'u1', role: 'user', parts: [{ type: 'text', text: message }] }],
    abortSignal: undefined,
  });
  let last;
  for await (const m of readUIMessageStream({ stream })) last = m;
  checkAnswer(last, 'readUIMessageStream');
});

test('keep-alive comments and id lines between the chunks do not upset the SDK\'s parser', async () => {
  const body = JSON.stringify({ id: 'chat-keepalive', messages: [{ id: 'u', role: 'user', parts: [{ type: 'text', text: message }] }] });
  const raw = await (await fetch(SLOW, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body })).text();
  assert.match(raw, /^:\n/m, 'keep-alive comments on the wire');
  assert.match(raw, /^id: /m, 'event ids on the wire');
  const transport = new DefaultChatTransport({ api: SLOW });
  const stream = await transport.sendMessages({
    chatId: 'chat-keepalive-2', trigger: 'submit-message', messageId: undefined,
    messages: [{ id: 'u1', role: 'user', parts: [{ type: 'text', text: message }] }], abortSignal: undefined,
  });
  let last;
  for await (const m of readUIMessageStream({ stream, terminateOnError: true })) last = m;
  checkAnswer(last, 'with keep-alives');
});

test('useChat\'s Chat: two turns; the bodies it sends are decoded by the server', async () => {
  const bodies = [];
  const transport = new DefaultChatTransport({
    api: FAST,
    fetch: (url, init) => {
      if (init && init.body) bodies.push(JSON.parse(init.body));
      return fetch(url, init);
    },
  });
  let finishes = 0;
  const chat = new Chat({ id: 'chat-two-turns', transport, onFinish: () => finishes++ });
  await chat.sendMessage({ text: message });
  assert.equal(chat.status, 'ready');
  checkAnswer(chat.messages[1], 'turn 1');
  await chat.sendMessage({ text: 'and again' });
  assert.equal(chat.messages.length, 4);
  const second = chat.messages[3].parts.find((p) => p.type === 'text');
  assert.equal(second.text, `Your message has ${'and again'.length} characters.`);
  assert.equal(finishes, 2);
  // What useChat sent: the chat id, UI messages with parts (no content),
  // the trigger; the second time with the first answer's reasoning, tool
  // and text parts. The Go test decodes these very bodies.
  assert.equal(bodies.length, 2);
  assert.equal(bodies[1].id, 'chat-two-turns');
  assert.equal(bodies[1].trigger, 'submit-message');
  assert.equal(bodies[1].messages.length, 3);
  assert.ok(bodies[1].messages.every((m) => Array.isArray(m.parts) && m.content === undefined));
  writeFileSync(join(env('SSECHAT_CAPTURE_DIR'), 'usechat-body.json'), JSON.stringify(bodies[1]));
});

test('regenerate: the last answer again', async () => {
  const chat = new Chat({ id: 'chat-regenerate', transport: new DefaultChatTransport({ api: FAST }) });
  await chat.sendMessage({ text: message });
  await chat.regenerate();
  assert.equal(chat.messages.length, 2);
  checkAnswer(chat.messages[1], 'regenerated');
});

test('a mid-stream error reaches the Chat as an error, with the text before it', async () => {
  let onError = null;
  const chat = new Chat({ id: 'chat-error', transport: new DefaultChatTransport({ api: UPSTREAM }), onError: (e) => (onError = e) });
  await chat.sendMessage({ text: 'mid-error' });
  assert.equal(chat.status, 'error');
  assert.ok(onError, 'onError was called');
  assert.match(chat.error.message, /\S/);
  assert.doesNotMatch(chat.error.message, /sk-example/);
  const text = chat.messages[1].parts.find((p) => p.type === 'text');
  assert.equal(text.text, 'Hel');
});

test('stop() aborts; the stop endpoint by chat id ends the generation on the server', async () => {
  const chat = new Chat({ id: 'chat-stop-' + Date.now(), transport: new DefaultChatTransport({ api: SLOW }) });
  const sent = chat.sendMessage({ text: message });
  // Once the first reasoning shows, stop as useChat's stop() does.
  await chat.chatState.until((ms) => ms[1] && ms[1].parts.some((p) => p.type === 'reasoning' && p.text.length > 0));
  await chat.stop();
  const res = await fetch(SLOW + '/stop', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ chat_id: chat.id }) });
  assert.equal(res.status, 204);
  await sent;
  assert.equal(chat.status, 'ready');
  const r = chat.messages[1].parts.find((p) => p.type === 'reasoning');
  const reasoning = 'Thinking about: ' + message;
  assert.ok(reasoning.startsWith(r.text) && r.text.length < reasoning.length, r.text);
  // A resume now replays the stopped answer, which ends with abort.
  const again = await fetch(`${SLOW}/${encodeURIComponent(chat.id)}/stream`);
  assert.equal(again.status, 200);
  assert.match(await again.text(), /"type":"abort"/);
  // A chat with no stream: nothing to resume.
  assert.equal((await fetch(`${SLOW}/no-such-chat/stream`)).status, 204);
});

// cutAfter returns a fetch whose first POST response ends with a network
// error after n bytes, as a dropped connection does.
function cutAfter(n) {
  let cut = false;
  return async (url, init) => {
    const res = await fetch(url, init);
    if (cut || !init || init.method !== 'POST') return res;
    cut = true;
    const reader = res.body.getReader();
    let sent = 0;
    const body = new ReadableStream({
      async pull(controller) {
        if (sent >= n) {
          reader.cancel().catch(() => {});
          controller.error(new TypeError('network error'));
          return;
        }
        const { value, done } = await reader.read();
        if (done) return controller.close();
        const take = value.subarray(0, n - sent);
        sent += take.length;
        controller.enqueue(take);
      },
    });
    return new Response(body, { status: res.status, headers: res.headers });
  };
}

test('a response cut at every position resumes (GET {api}/{chatId}/stream): nothing repeated, nothing lost', async (t) => {
  const short = '好 👋🏽';
  // How long the whole response is.
  const whole = await fetch(QUICK, { method: 'POST', headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ id: 'chat-size', messages: [{ id: 'u', role: 'user', parts: [{ type: 'text', text: short }] }] }) });
  const size = (await whole.arrayBuffer()).byteLength;
  let resumed = 0;
  const run = async (n) => {
    const chat = new Chat({ id: `chat-cut-${n}-${Date.now()}`, transport: new DefaultChatTransport({ api: QUICK, fetch: cutAfter(n) }) });
    await chat.sendMessage({ text: short });
    const label = `cut after ${n} of ${size} bytes`;
    assert.notEqual(chat.status, 'streaming', label);
    await chat.resumeStream();
    assert.equal(chat.status, 'ready', label);
    assert.equal(chat.messages.length, 2, label);
    checkAnswer(chat.messages[1], label, short);
    resumed++;
  };
  const all = Array.from({ length: size }, (_, n) => n);
  for (let i = 0; i < all.length; i += 128) await Promise.all(all.slice(i, i + 128).map(run));
  t.diagnostic(`${resumed} cut responses resumed, of ${size} bytes`);
  assert.equal(resumed, size);
});
