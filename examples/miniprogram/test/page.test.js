'use strict';
// The chat page (pages/chat/chat.js) in a small stand-in for the mini
// program runtime (Page, getApp, setData with data paths, wx.request),
// against the real Go example server.
const test = require('node:test');
const assert = require('node:assert/strict');
const { createRequest } = require('./wxrequest');
const { rng } = require('./rand');
const { env } = require('./servers');


// setPath sets a setData path such as "messages[1].text".
function setPath(obj, path, value) {
  const keys = path.replace(/\[(\d+)\]/g, '.$1').split('.');
  let o = obj;
  for (const k of keys.slice(0, -1)) o = o[k];
  o[keys[keys.length - 1]] = value;
}

// openPage loads the page with the given server URL and returns it, with
// every setData call recorded and a promise for the next idle state.
function openPage(url, request) {
  let config;
  global.Page = (c) => {
    config = c;
  };
  global.getApp = () => ({ globalData: { chatURL: url, ascii: false } });
  global.wx = { request };
  const file = require.resolve('../pages/chat/chat');
  delete require.cache[file];
  require(file);
  const page = Object.assign({}, config, { data: JSON.parse(JSON.stringify(config.data)), calls: [] });
  let waiting = null;
  let started = false;
  page.setData = (d) => {
    page.calls.push({ at: performance.now(), d });
    for (const k of Object.keys(d)) setPath(page.data, k, d[k]);
    const last = page.data.messages[page.data.messages.length - 1];
    if (page.data.streaming) started = true;
    if (waiting && started && !page.data.streaming && last && !last.typing) {
      started = false;
      const w = waiting;
      waiting = null;
      w();
    }
  };
  // settled resolves when the stream has ended and the typewriter finished.
  page.settled = () => new Promise((resolve) => (waiting = resolve));
  page.onLoad();
  return page;
}

function ask(page, text) {
  const settled = page.settled();
  page.onInput({ detail: { value: text } });
  page.send();
  return settled;
}

test('the page shows the answer progressively and exactly, in two turns', async () => {
  const request = createRequest({ r: rng(11) });
  const page = openPage(env('SSECHAT_SLOW_URL'), request);
  for (const text of ['你好！请用一句话介绍你自己。👩‍👩‍👧‍👦', 'and a second turn, e\u0301']) {
    const from = page.calls.length;
    await ask(page, text);
    const answer = page.data.messages[page.data.messages.length - 1];
    assert.equal(answer.role, 'assistant');
    assert.equal(answer.text, text);
    assert.equal(page.data.error, '');
    const shown = page.calls.slice(from).map((c) => Object.entries(c.d).find(([k]) => k.endsWith('.text'))).filter(Boolean).map(([, v]) => v);
    assert.ok(shown.length >= 3, `${shown.length} renders`);
    for (const s of shown) assert.ok(text.startsWith(s), JSON.stringify(s));
  }
  // The second request carried the whole conversation.
  assert.equal(page.history.length, 4);
  assert.deepEqual(page.history.map((m) => m.role), ['user', 'assistant', 'user', 'assistant']);
});

test('stop ends the answer where it is and notes it', async () => {
  const request = createRequest({ r: rng(12) });
  const page = openPage(env('SSECHAT_SLOW_URL'), request);
  const text = 'a long answer, long enough to be stopped before its end: ' + '长'.repeat(100);
  const settled = page.settled();
  page.onInput({ detail: { value: text } });
  page.send();
  await new Promise((resolve) => {
    const setData = page.setData;
    page.setData = (d) => {
      setData(d);
      if (Object.keys(d).some((k) => k.endsWith('.text')) && !page.stopped) {
        page.stopped = true;
        page.stop();
        resolve();
      }
    };
  });
  await settled;
  const answer = page.data.messages[1];
  assert.equal(answer.note, 'Stopped');
  assert.ok(answer.text.length < text.length && text.startsWith(answer.text));
  assert.equal(page.data.streaming, false);
  assert.equal(request.tasks[0].listeners(), 0);
});

test('errors are shown: before the stream and during it', async () => {
  const upstream = env('SSECHAT_UPSTREAM_URL');
  let page = openPage(upstream, createRequest({ r: rng(13) }));
  await ask(page, 'status 429');
  assert.match(page.data.error, /rate_limited/);
  page = openPage(upstream, createRequest({ r: rng(14) }));
  await ask(page, 'mid-error');
  assert.match(page.data.error, /\(\w+\)$/);
  assert.ok(page.data.messages[1].text.length > 0, 'the text before the error stays');
  // Cut before the first whole event: nothing to resume from.
  page = openPage(upstream, createRequest({ r: rng(15), endAfter: 5 }));
  await ask(page, 'a cut answer');
  assert.match(page.data.error, /connection was lost/);
  assert.equal(page.data.messages[1].note, 'Interrupted');
});

test('a cut answer resumes: the page shows one continuous answer', async () => {
  const text = '一个被截断的回答，续传后完整显示。'.repeat(4);
  const request = createRequest({ r: rng(16), requests: [{ endAfter: 300 }, { breakAfter: 200 }] });
  const page = openPage(env('SSECHAT_URL'), request);
  await ask(page, text);
  const renders = page.calls.map((c) => c.d['messages[1].text']).filter((v) => v !== undefined);
  assert.equal(request.tasks.length, 3, 'two resumes');
  assert.equal(page.data.error, '');
  assert.equal(page.data.messages[1].text, text);
  assert.equal(page.data.messages[1].note || '', '');
  renders.forEach((r, i) => assert.ok(text.startsWith(r) && (i === 0 || r.startsWith(renders[i - 1])), `render ${i} ${JSON.stringify(r)}`));
});
