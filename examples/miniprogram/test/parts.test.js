'use strict';
// Reasoning, a tool call and a data part, as streamChat hands them to the
// page: against the example server whose mock thinks aloud and calls its
// tool (SSECHAT_PARTS_URL: -mock-reasoning -mock-tools), in every mode,
// whole and cut at every byte and resumed.
const test = require('node:test');
const assert = require('node:assert/strict');
const { streamChat } = require('../utils/ssechat');
const { createRequest } = require('./wxrequest');
const { rng } = require('./rand');
const { env } = require('./servers');

const URL_PARTS = env('SSECHAT_PARTS_URL');
const message = '你好 👋🏽 e\u0301';
const reasoning = 'Thinking about: ' + message;
const answer = `Your message has ${Array.from(message).length} characters.`;
const args = JSON.stringify({ text: message });

function chat(options) {
  return new Promise((resolve) => {
    const got = { texts: [], reasonings: [], calls: [], data: [], done: [], errors: [] };
    got.task = streamChat(
      Object.assign(
        {
          onText: (t) => got.texts.push(t),
          onReasoning: (r) => got.reasonings.push(r),
          onToolCall: (c, all) => got.calls.push({ c, all }),
          onData: (p, kept) => got.data.push({ p, kept }),
          onDone: (r) => {
            got.done.push(r);
            resolve(got);
          },
          onError: (e) => {
            got.errors.push(e);
            resolve(got);
          },
        },
        options,
      ),
    );
  });
}

function checkParts(got, mode, label) {
  assert.equal(got.errors.length, 0, `${label}: ${got.errors[0] && got.errors[0].message}`);
  const r = got.done[0];
  assert.equal(r.reasoning, reasoning, label);
  assert.equal(r.text, answer, label);
  if (r.usage) assert.equal(r.usage.reasoning_tokens, Array.from(reasoning).length, label);
  // Reasoning grows, then the answer: each call sees more of it.
  got.reasonings.forEach((s, i) => assert.ok(reasoning.startsWith(s) && (i === 0 || s.length > got.reasonings[i - 1].length), label));
  if (mode === 'openai') {
    // The server runs its tool itself: OpenAI's shape leaves the call out.
    assert.deepEqual(r.toolCalls, [], label);
    return;
  }
  assert.equal(r.toolCalls.length, 1, label);
  const call = r.toolCalls[0];
  assert.equal(call.id, 'call_1', label);
  assert.equal(call.name, 'message_length', label);
  assert.equal(call.arguments, args, label);
  // Arguments only grow while the call streams.
  got.calls.forEach(({ c }) => assert.ok(args.startsWith(c.arguments), `${label}: ${c.arguments}`));
  assert.equal(call.state, 'done', label);
  assert.deepEqual(call.output, { characters: Array.from(message).length }, label);
  const states = got.calls.map(({ c }) => c.state).filter((s, i, a) => i === 0 || s !== a[i - 1]);
  assert.deepEqual(states.slice(-2), ['ready', 'done'], label);
  if (r.usage) assert.equal(r.usage.reasoning_tokens, Array.from(reasoning).length, label);
}

test('reasoning, a tool call and its result reach the callbacks exactly, in every mode', async () => {
  for (const mode of ['delta', 'snapshot', 'openai']) {
    const got = await chat({ url: URL_PARTS, data: { messages: [{ role: 'user', content: message }] }, mode, request: createRequest({ r: rng(21) }) });
    checkParts(got, mode, mode);
    if (mode !== 'openai') {
      // The status line the server sends while its tool runs: transient,
      // passed on, never kept.
      assert.equal(got.data.length, 1, mode);
      assert.deepEqual(got.data[0].p, { name: 'status', id: '', value: 'Counting the characters…', transient: true });
      assert.deepEqual(got.data[0].kept, []);
      assert.deepEqual(got.done[0].data, []);
    }
  }
});

test('onStart says the answer is AI-generated; a filtered answer\'s retraction reaches onText, then onError with content_filtered and the text to show', async () => {
  let start = null;
  const got = await chat({
    url: env('SSECHAT_FILTER_URL'),
    data: { messages: [{ role: 'user', content: '第一句话。这里有敏感词。' }] },
    request: createRequest({ r: rng(22) }),
    onStart: (info) => (start = info),
  });
  assert.equal(start.aiGenerated, true);
  assert.equal(got.done.length, 0);
  const err = got.errors[0];
  assert.equal(err.code, 'content_filtered');
  assert.equal(err.text, '该回答已被过滤');
  // What was shown before the block, then the retraction.
  assert.ok(got.texts.length >= 2, JSON.stringify(got.texts));
  assert.ok(got.texts.slice(0, -1).every((t) => !t.includes('敏') && '第一句话。这里有'.startsWith(t)), JSON.stringify(got.texts));
  assert.equal(got.texts[got.texts.length - 1], '该回答已被过滤');
});

test('an answer with parts cut at any byte resumes exactly', async (t) => {
  let resumed = 0;
  for (const mode of ['delta', 'snapshot', 'openai']) {
    const full = createRequest({ cut: 'whole' });
    checkParts(await chat({ url: URL_PARTS, data: { messages: [{ role: 'user', content: message }] }, mode, request: full }), mode, mode);
    const size = full.tasks[0].body().length;
    for (let n = 0; n < size; n++) {
      const how = n % 2 === 0 ? { endAfter: n } : { breakAfter: n };
      const request = createRequest({ r: rng(1000 + n), requests: [how] });
      const got = await chat({ url: URL_PARTS, data: { messages: [{ role: 'user', content: message }] }, mode, request });
      const label = `${mode} cut after ${n} of ${size} bytes (${JSON.stringify(how)})`;
      if (request.tasks.length === 1) {
        assert.equal(got.errors[0].code, 'interrupted', label); // before the first whole event
        continue;
      }
      resumed++;
      checkParts(got, mode, label);
    }
  }
  t.diagnostic(`${resumed} cut responses with parts resumed`);
  assert.ok(resumed > 1000, `only ${resumed} resumed`);
});
