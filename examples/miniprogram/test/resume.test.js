'use strict';
// streamChat resuming on its own against the real Go example server started
// with -detach and -max-response (SSECHAT_RESUME_URL): the platform's cuts
// are played by the wx.request stand-in, with time scaled down a hundred
// times (WeChat's 60 s cap is 600 ms here, the server rotates responses at
// 400 ms instead of 50 s, and the app goes to the background for good 300
// ms into a request instead of 5 s).
const test = require('node:test');
const assert = require('node:assert/strict');
const { streamChat } = require('../utils/ssechat');
const { createRequest } = require('./wxrequest');
const { rng } = require('./rand');
const { env } = require('./servers');

const URL_RESUME = env('SSECHAT_RESUME_URL'); // mock delay 10 ms per 3 runes

// A long answer: 240 chunks, about 2.4 s, several responses.
const LONG = Array.from({ length: 24 }, (_, i) => `第${i}句：续传不丢字 👋🏽 e\u0301。`).join('');

function chat(options) {
  return new Promise((resolve) => {
    const got = { texts: [], events: [], done: [], errors: [], resumes: [] };
    got.task = streamChat(
      Object.assign(
        {
          retryDelay: 20,
          onText: (t) => got.texts.push(t),
          onEvent: (e) => got.events.push(e),
          onResume: (info) => got.resumes.push(info),
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

// checkContinuous asserts one continuous answer: every event with an id
// arrived once, in order, over all the responses, and the text is exact.
function checkContinuous(got, want, label) {
  const e = got.errors[0];
  assert.equal(got.errors.length, 0, `${label}: ${e && e.code}: ${e && e.message}`);
  assert.equal(got.done.length, 1, label);
  assert.equal(got.done[0].text, want, label);
  const ids = got.events.filter((ev) => ev.type !== 'reconnect').map((ev) => ev.id);
  ids.forEach((id, i) => assert.match(id, new RegExp(`^[A-Z2-7]{26}\\.${i}$`), `${label}: event ${i} has id ${id}`));
  if (got.done[0].text !== '') {
    // In delta and openai modes the text only grows; a snapshot restates it.
    got.texts.forEach((t, i) => i > 0 && assert.ok(t.startsWith(got.texts[i - 1]), `${label}: text went back`));
  }
}

for (const mode of ['delta', 'snapshot', 'openai']) {
  // The server never rotates openai-mode streams (OpenAI's libraries cannot
  // follow a reconnect event); there the cap cuts, and the next test covers it.
  if (mode !== 'openai') test(`${mode}: the server rotates responses under the 60 s cap; the answer is whole`, async () => {
    const request = createRequest({ r: rng(21), timeoutMs: 600 });
    const got = await chat({ url: URL_RESUME, data: { messages: [{ role: 'user', content: LONG }] }, mode, request });
    checkContinuous(got, LONG, mode);
    assert.ok(got.resumes.length >= 3, `${got.resumes.length} resumes`);
    assert.ok(got.resumes.every((r) => r.reason === 'interrupted'), 'a rotation ends the response; no timeout was reached');
    assert.equal(got.events.filter((ev) => ev.type === 'reconnect').length, got.resumes.length);
  });

  test(`${mode}: the 60 s cap cuts every response before the server rotates it; the answer is whole`, async () => {
    const request = createRequest({ r: rng(22), timeoutMs: 250 });
    const got = await chat({ url: URL_RESUME, data: { messages: [{ role: 'user', content: LONG }] }, mode, request });
    checkContinuous(got, LONG, mode);
    assert.ok(got.resumes.some((r) => r.reason === 'timeout'), 'the cap was reached');
  });

  test(`${mode}: the app goes to the background mid-answer (cut after 5 s) and comes back; the answer is whole`, async () => {
    // The first request is cut; while "in the background" the next two fail
    // at once; then the app is back.
    const request = createRequest({
      r: rng(23),
      timeoutMs: 600,
      requests: [{ interruptMs: 300 }, { interruptMs: 0 }, { interruptMs: 0 }],
    });
    const got = await chat({ url: URL_RESUME, data: { messages: [{ role: 'user', content: LONG }] }, mode, request });
    checkContinuous(got, LONG, mode);
    assert.equal(got.resumes[0].reason, 'interrupted');
    assert.ok(got.resumes.length >= 3);
  });
}

test('resumes that bring nothing stop after maxRetries, with the text so far', async () => {
  const request = createRequest({ r: rng(24), requests: [{ interruptMs: 200, breakAfter: undefined }], breakAfter: 0 });
  const got = await chat({ url: URL_RESUME, data: { messages: [{ role: 'user', content: LONG }] }, maxRetries: 2, request });
  assert.equal(got.done.length, 0);
  assert.equal(got.errors.length, 1);
  assert.equal(got.resumes.length, 3); // one after the progress, then two that bring nothing
  assert.ok(LONG.startsWith(got.errors[0].text) && got.errors[0].text.length > 0);
  got.task.stop(); // finished already: nothing is sent
  assert.equal(request.tasks.length, 4);
});

test('stop() aborts and stops the generation on the server', async () => {
  const request = createRequest({ r: rng(25) });
  let task;
  const stopped = new Promise((resolve) => {
    task = streamChat({
      url: URL_RESUME,
      data: { messages: [{ role: 'user', content: 'stop me: ' + LONG }] },
      request,
      onText: () => {
        task.stop();
        resolve();
      },
      onDone: () => assert.fail('done after stop()'),
      onError: (e) => assert.fail('error after stop(): ' + e.code),
    });
  });
  await stopped;
  await request.tasks[1].done;
  assert.equal(request.tasks.length, 2);
  // The Go test checks the server's log for end=stopped.
});

test('options are checked', () => {
  assert.throws(() => streamChat({ url: 'x', data: {}, request: () => null, maxRetries: -1 }), TypeError);
  assert.throws(() => streamChat({ url: 'x', data: {}, request: () => null, retryDelay: 'soon' }), TypeError);
});
