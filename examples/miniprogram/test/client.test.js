'use strict';
// streamChat against the real Go example server, through a wx.request
// stand-in that cuts the body at seeded random byte positions. The Go test
// in examples/server starts the servers and runs this file:
//
//   go test ./examples/server -run TestMiniProgramClient -v
//
// SSECHAT_URL is a server with the echo mock and no delay, SSECHAT_SLOW_URL
// one whose mock waits between chunks, and SSECHAT_UPSTREAM_URL one that
// streams from a fake OpenAI upstream (internal/fakeopenai's scripts).
const test = require('node:test');
const assert = require('node:assert/strict');
const { streamChat } = require('../utils/ssechat');
const { createRequest } = require('./wxrequest');
const { rng } = require('./rand');
const { env } = require('./servers');

const URL_FAST = env('SSECHAT_URL');
const URL_SLOW = env('SSECHAT_SLOW_URL');
const URL_UPSTREAM = env('SSECHAT_UPSTREAM_URL');

const TEXTS = [
  '你好，世界！这是一个流式回答。',
  'emoji 👩‍👩‍👧‍👦 🏳️‍🌈 👋🏽 and flags 🇨🇳🇯🇵',
  'combining e\u0301 a\u0308 \u0915\u094d\u0937 Z\u0351\u036b\u0343',
  'lines\r\nwith\rbreaks\n\n and a tab\t',
  'data: looks like a field\n\nid: 1\nevent: done\n: comment\nretry: 10\n\n',
  '\ufeff a BOM inside, "quotes", \\backslashes\\ and </script>',
  ' ',
];

const user = (text) => ({ messages: [{ role: 'user', content: text }] });

// chat runs one streamChat and resolves when it has ended, with every
// callback it made.
function chat(options) {
  return new Promise((resolve) => {
    const got = { texts: [], events: [], done: [], errors: [] };
    const end = () => resolve(got);
    got.task = streamChat(
      Object.assign(
        {
          onText: (t) => got.texts.push(t),
          onEvent: (e) => got.events.push(e),
          onDone: (r) => {
            got.done.push(r);
            end();
          },
          onError: (e) => {
            got.errors.push(e);
            end();
          },
        },
        options,
      ),
    );
  });
}

// checkIds asserts that the events arrived in order, each once: ids are
// "<stream id>.<n>" with n counting from 0.
function checkIds(events, label) {
  events.forEach((e, i) => {
    const m = /^([A-Z2-7]{26})\.(\d+)$/.exec(e.id);
    assert.ok(m, `${label}: event ${i} id ${JSON.stringify(e.id)}`);
    assert.equal(Number(m[2]), i, `${label}: event ${i} has id ${e.id}`);
  });
}

function checkComplete(got, want, label) {
  assert.equal(got.errors.length, 0, `${label}: error ${got.errors[0] && got.errors[0].code}: ${got.errors[0] && got.errors[0].message}`);
  assert.equal(got.done.length, 1, label);
  assert.equal(got.done[0].text, want, label);
  if (want !== '') assert.equal(got.texts[got.texts.length - 1], want, label);
  assert.equal(got.done[0].finishReason, 'stop', label);
  assert.match(got.done[0].streamId, /^[A-Z2-7]{26}$/, label);
  checkIds(got.events, label);
}

test('the text is exact for every mode, ascii, and thousands of splits', async (t) => {
  const seed = 4242;
  const r = rng(seed);
  let requests = 0;
  let pieces = 0;
  for (const mode of ['delta', 'snapshot', 'openai']) {
    for (const ascii of [false, true]) {
      for (const text of TEXTS) {
        for (const cut of ['one', 'whole', 'random', 'random', 'random', 'random', 'random', 'random']) {
          const request = createRequest({ r, cut });
          const label = `seed ${seed} ${mode} ascii=${ascii} cut=${cut} text=${JSON.stringify(text)}`;
          const got = await chat({ url: URL_FAST, data: user(text), mode, ascii, request });
          checkComplete(got, text, label);
          if (mode === 'delta') {
            // Appending: each text extends the one before.
            got.texts.forEach((s, i) => i > 0 && assert.ok(s.startsWith(got.texts[i - 1]), label));
          }
          const body = request.tasks[0].body();
          if (ascii) assert.ok(body.every((b) => b < 0x80), `${label}: non-ASCII byte on the wire`);
          requests++;
          pieces += request.tasks[0].pieces();
        }
      }
    }
  }
  t.diagnostic(`${requests} streams, ${pieces} pieces`);
  assert.ok(pieces > 10000, `only ${pieces} pieces`);
});

test('a message with no text is refused before anything streams: invalid_request, 422', async () => {
  const got = await chat({ url: URL_FAST, data: user(''), request: createRequest({ r: rng(3) }) });
  assert.equal(got.done.length, 0);
  assert.equal(got.errors[0].code, 'invalid_request');
  assert.equal(got.errors[0].status, 422);
});

test('PC WeChat: no chunks, the whole body in success', async () => {
  for (const successData of ['arraybuffer', 'string']) {
    for (const mode of ['delta', 'snapshot', 'openai']) {
      const got = await chat({ url: URL_FAST, data: user(TEXTS[1]), mode, request: createRequest({ chunks: false, successData }) });
      checkComplete(got, TEXTS[1], `${successData} ${mode}`);
    }
  }
});

test('chunks, then the whole body again in success: no event twice', async () => {
  const r = rng(99);
  for (const successData of ['arraybuffer', 'string']) {
    for (const mode of ['delta', 'snapshot', 'openai']) {
      // Chunk callbacks for all of the body, or only for its first n bytes
      // (iOS stops them when a newer chunked request opens).
      for (const chunksUntil of [undefined, 0, 1, 17, 60, 150, 400]) {
        const label = `${successData} ${mode} chunks until ${chunksUntil}`;
        const got = await chat({ url: URL_FAST, data: user(TEXTS[0]), mode, request: createRequest({ r, successData, chunksUntil }) });
        checkComplete(got, TEXTS[0], label);
        if (mode === 'delta') assert.equal(new Set(got.texts).size, got.texts.length, label);
      }
    }
  }
});

test('a request function whose task lost its methods (Taro interceptors) still gets the answer', async () => {
  const inner = createRequest({ chunks: false, successData: 'arraybuffer' });
  const request = (req) => {
    inner(req);
    return Promise.resolve(); // Taro.request's promise, without the task's methods
  };
  const got = await chat({ url: URL_FAST, data: user(TEXTS[0]), request });
  checkComplete(got, TEXTS[0], 'no task');
});

test('DevTools: no statusCode in onHeadersReceived', async () => {
  const got = await chat({ url: URL_FAST, data: user(TEXTS[2]), request: createRequest({ r: rng(1), headerStatus: false }) });
  checkComplete(got, TEXTS[2], 'no status');
  const bad = await chat({ url: URL_FAST, data: { messages: [] }, request: createRequest({ r: rng(1), headerStatus: false }) });
  assert.equal(bad.errors[0].code, 'invalid_request');
  assert.equal(bad.errors[0].status, 422);
});

test('an error answer before the stream reaches onError with its code and status', async () => {
  const cases = [
    [{ messages: [] }, 'invalid_request', 422],
    [{ messages: [{ role: 'robot', content: 'x' }] }, 'invalid_request', 422],
  ];
  for (const [data, code, status] of cases) {
    for (const opts of [{ cut: 'one' }, { cut: 'whole' }, { chunks: false, successData: 'arraybuffer' }, { chunks: false, successData: 'string' }]) {
      const got = await chat({ url: URL_FAST, data, request: createRequest(Object.assign({ r: rng(3) }, opts)) });
      assert.equal(got.done.length, 0);
      assert.equal(got.errors.length, 1);
      const e = got.errors[0];
      assert.equal(e.code, code, JSON.stringify(opts));
      assert.equal(e.status, status);
      assert.ok(e.message.length > 0);
      assert.equal(e.name, 'StreamError');
    }
  }
  // The upstream refuses the server's key: 502, and no secret in the message.
  const got = await chat({ url: URL_UPSTREAM, data: user('status 401'), request: createRequest({ r: rng(4) }) });
  assert.equal(got.errors[0].code, 'upstream_error');
  assert.equal(got.errors[0].status, 502);
  assert.doesNotMatch(got.errors[0].message, /sk-|Incorrect/);
});

test('an error event after the stream started reaches onError with the text so far', async () => {
  for (const mode of ['delta', 'snapshot', 'openai']) {
    const got = await chat({ url: URL_UPSTREAM, data: user('mid-error'), mode, request: createRequest({ r: rng(5) }) });
    assert.equal(got.done.length, 0, mode);
    assert.equal(got.errors.length, 1, mode);
    const e = got.errors[0];
    assert.equal(e.status, 200, mode);
    assert.ok(e.code && e.code !== 'interrupted', `${mode}: code ${e.code}`);
    assert.ok(e.text.length > 0, `${mode}: text before the error`);
    assert.match(e.lastEventId, /^[A-Z2-7]{26}\.\d+$/);
  }
});

test('a response cut at any byte before its terminal event is interrupted, never done (resume off)', async () => {
  const text = '你好 👋🏽';
  for (const mode of ['delta', 'snapshot', 'openai']) {
    const full = createRequest({ cut: 'whole' });
    checkComplete(await chat({ url: URL_FAST, data: user(text), mode, request: full }), text, mode);
    const size = full.tasks[0].body().length;
    for (let n = 0; n < size; n++) {
      const how = n % 2 === 0 ? { endAfter: n } : { breakAfter: n };
      const got = await chat({ url: URL_FAST, data: user(text), mode, resume: false, request: createRequest(Object.assign({ r: rng(n) }, how)) });
      const label = `${mode} cut after ${n} of ${size} bytes (${JSON.stringify(how)})`;
      assert.equal(got.done.length, 0, label);
      assert.equal(got.errors.length, 1, label);
      const e = got.errors[0];
      assert.equal(e.code, 'interrupted', label);
      assert.equal(e.retryable, true, label);
      assert.ok(text.startsWith(e.text), label);
    }
  }
});

test('a response cut at any byte resumes after its last event id: the text is exact', async (t) => {
  const text = '你好 👋🏽 resume';
  let resumed = 0;
  for (const mode of ['delta', 'snapshot', 'openai']) {
    const full = createRequest({ cut: 'whole' });
    checkComplete(await chat({ url: URL_FAST, data: user(text), mode, request: full }), text, mode);
    const size = full.tasks[0].body().length;
    for (let n = 0; n < size; n++) {
      // Only the first response is cut; the resume reads to the end.
      const how = n % 2 === 0 ? { endAfter: n } : { breakAfter: n };
      const request = createRequest({ r: rng(n), requests: [how] });
      const got = await chat({ url: URL_FAST, data: user(text), mode, request });
      const label = `${mode} cut after ${n} of ${size} bytes (${JSON.stringify(how)})`;
      const first = got.events.length > 0 ? got.events[0].id : '';
      if (request.tasks.length === 1) {
        // Cut before the first whole event: no id to resume from.
        assert.equal(first, '', label);
        assert.equal(got.errors[0].code, 'interrupted', label);
        continue;
      }
      resumed++;
      checkComplete(got, text, label);
      assert.equal(got.done[0].resumes, 1, label);
      assert.equal(request.tasks.length, 2, label);
    }
  }
  t.diagnostic(`${resumed} cut responses resumed`);
  assert.ok(resumed > 300, `only ${resumed} resumed`);
});

test('an answer cancelled because its client left is not resumed: client_gone, no retry', async () => {
  // The slow server cancels at once when a client leaves (-detach 0): the
  // cut cancels the generation, and the resume gets the log's terminal
  // error, which names the cause and is final.
  const text = '一个很长的回答，'.repeat(40);
  const request = createRequest({ r: rng(8), requests: [{ breakAfter: 400 }] });
  const got = await chat({ url: URL_SLOW, data: user(text), request, retryDelay: 10 });
  assert.equal(got.done.length, 0);
  assert.equal(got.errors.length, 1);
  const e = got.errors[0];
  assert.equal(e.code, 'client_gone', e.message);
  assert.equal(e.retryable, false);
  assert.match(e.message, /disconnected/);
  assert.ok(e.text.length > 0 && text.startsWith(e.text), e.text);
  assert.equal(request.tasks.length, 2, 'one resume, then no retry');
});

test('abort() stops at once: listeners removed, no callback afterwards, the server sees the client leave', async () => {
  const request = createRequest({ r: rng(6) });
  const calls = [];
  let task;
  await new Promise((resolve) => {
    task = streamChat({
      url: URL_SLOW,
      data: user('a long answer that the user stops after the first words'),
      request,
      onText: (t) => {
        calls.push('text');
        if (calls.filter((c) => c === 'text').length === 1) {
          task.abort();
          resolve();
        }
      },
      onEvent: () => calls.push('event'),
      onDone: () => calls.push('done'),
      onError: () => calls.push('error'),
    });
  });
  const wx = request.tasks[0];
  assert.equal(wx.listeners(), 0, 'listeners left');
  await wx.done; // the connection is closed
  await new Promise((resolve) => setImmediate(resolve)); // the platform's late fail
  assert.equal(wx.state.afterAbort, 1, 'the stand-in reported the abort through fail');
  assert.deepEqual(calls.filter((c) => c !== 'event'), ['text']);
  task.abort(); // twice is harmless
});

test('abort() from inside a callback stops the events of the same piece', async () => {
  const calls = [];
  let task;
  await new Promise((resolve) => {
    task = streamChat({
      url: URL_FAST,
      data: user('一二三四五六七八九十'),
      request: createRequest({ cut: 'whole' }), // every event in one piece
      onText: (t) => {
        calls.push(t);
        task.abort();
        resolve();
      },
      onDone: () => calls.push('done'),
      onError: () => calls.push('error'),
    });
  });
  await new Promise((resolve) => setImmediate(resolve));
  assert.deepEqual(calls, ['一二三']);
});

test('bad options throw at once', () => {
  const request = createRequest({});
  assert.throws(() => streamChat(), TypeError);
  assert.throws(() => streamChat({ data: user('x'), request }), /url/);
  assert.throws(() => streamChat({ url: URL_FAST, request }), /data/);
  assert.throws(() => streamChat({ url: URL_FAST, data: user('x'), mode: 'words', request }), /mode/);
  assert.throws(() => streamChat({ url: URL_FAST, data: user('x') }), /request function/);
  assert.equal(request.tasks.length, 0);
});
