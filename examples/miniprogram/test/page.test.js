'use strict';
// The chat page (pages/chat/chat.{js,json,wxml,wxss}) rendered and driven by
// the official miniprogram-simulate (j-component, with WeChat's own WXML
// compiler, wcc), in a jsdom document, against the real Go example server.
// The tests type into the rendered input, tap the rendered buttons and read
// what the rendered page shows; only wx.request and getApp are stand-ins.
const test = require('node:test');
const assert = require('node:assert/strict');
const path = require('node:path');

// jsdom and miniprogram-simulate come from npm ci in examples/miniprogram.
// Without them the page's tests are skipped, as the other tests skip what
// needs a missing tool; under CI (CI set) they fail instead.
const missing = ['jsdom', 'miniprogram-simulate'].filter((name) => {
  try {
    require.resolve(name);
    return false;
  } catch (e) {
    return true;
  }
});
if (missing.length > 0) {
  const why = `${missing.join(' and ')} not installed: run npm ci in examples/miniprogram`;
  test('the chat page, rendered by miniprogram-simulate', (t) => {
    if (process.env.CI) assert.fail(why);
    t.skip(why);
  });
  return; // the rest of this file needs them
}

const { JSDOM } = require('jsdom');
const { createRequest } = require('./wxrequest');
const { rng } = require('./rand');
const { env } = require('./servers');

const dom = new JSDOM('<!doctype html><html><head></head><body></body></html>', { pretendToBeVisual: true });
for (const name of ['window', 'document', 'Node', 'Element', 'HTMLElement', 'Event', 'CustomEvent', 'MutationObserver', 'getComputedStyle', 'TouchEvent', 'Touch']) {
  global[name] = name === 'window' ? dom.window : dom.window[name];
}
const simulate = require('miniprogram-simulate');

const root = path.resolve(__dirname, '..');

// openPage renders the chat page with the given server URL. It returns the
// rendered component with: shown(), the rendered answers; renders, the
// answer text as shown after each change of the page; and settled(), a
// promise for the next moment the page is idle again after a send.
function openPage(url, request) {
  global.getApp = () => ({ globalData: { chatURL: url, ascii: false } });
  global.wx = { request };
  const id = simulate.load(path.join(root, 'pages/chat/chat'), 'chat', { rootPath: root });
  const page = simulate.render(id);
  const parent = document.createElement('parent-wrapper');
  document.body.appendChild(parent);
  page.attach(parent);
  page.renders = [];
  page.statuses = [];
  page.thoughts = [];
  let waiting = null;
  let started = false;
  const observer = new MutationObserver(() => {
    const answers = shown(page).filter((m) => m.role === 'assistant');
    const last = answers[answers.length - 1];
    if (last && page.renders[page.renders.length - 1] !== last.text) page.renders.push(last.text);
    if (last && last.status && page.statuses[page.statuses.length - 1] !== last.status) page.statuses.push(last.status);
    if (last && last.reasoning && page.thoughts[page.thoughts.length - 1] !== last.reasoning) page.thoughts.push(last.reasoning);
    const streaming = page.querySelector('.stop') !== undefined;
    if (streaming) started = true;
    if (waiting && started && !streaming && last && !last.typing) {
      started = false;
      const w = waiting;
      waiting = null;
      w();
    }
  });
  observer.observe(page.dom, { subtree: true, childList: true, characterData: true, attributes: true });
  page.settled = () => new Promise((resolve) => (waiting = resolve));
  page.close = () => {
    observer.disconnect();
    page.detach();
    parent.remove();
  };
  return page;
}

// shown reads the messages as the rendered page shows them, from the DOM.
// miniprogram-simulate prefixes the page's classes with its tag name.
function shown(page) {
  const text = (el, cls) => {
    const e = el.querySelector('.chat--' + cls);
    return e ? e.textContent : undefined;
  };
  return Array.from(page.dom.querySelectorAll('.chat--message')).map((m) => {
    const msg = {
      role: m.classList.contains('chat--assistant') ? 'assistant' : 'user',
      text: text(m, 'text'),
      typing: text(m, 'cursor') !== undefined,
      note: text(m, 'note') || '',
    };
    // Shown only when there is some: the reasoning block's head and its
    // text (when open), and the tool status line.
    if (m.querySelector('.chat--reasoning')) {
      msg.head = text(m, 'reasoning-head');
      msg.reasoning = text(m, 'reasoning-text') || '';
    }
    if (m.querySelector('.chat--status')) msg.status = text(m, 'status');
    return msg;
  });
}

function errorShown(page) {
  const e = page.dom.querySelector('.chat--error');
  return e ? e.textContent : '';
}

// ask types the text into the rendered input and taps Send.
function ask(page, text) {
  const settled = page.settled();
  page.querySelector('.input').dispatchEvent('input', { detail: { value: text } });
  return new Promise((resolve) => setImmediate(resolve)).then(() => {
    page.querySelector('.send').dispatchEvent('tap');
    return settled;
  });
}

test('the page is rendered from its WXML and WXSS', () => {
  const page = openPage('http://127.0.0.1:1/chat', createRequest({ r: rng(10) }));
  try {
    assert.ok(page.querySelector('.messages'), 'the message list');
    assert.equal(page.querySelector('.send').dom.textContent, 'Send');
    assert.equal(page.querySelector('.stop'), undefined, 'no Stop while idle');
    assert.equal(page.querySelector('.error'), undefined, 'no error shown');
    page.instance.setData({ messages: [{ id: 0, role: 'user', text: 'hi' }, { id: 1, role: 'assistant', text: 'yo', typing: true }] });
    const [user, answer] = page.querySelectorAll('.message');
    // The page's WXSS, compiled and applied to the rendered nodes.
    assert.equal(getComputedStyle(user.dom).backgroundColor, 'rgb(149, 236, 105)');
    assert.equal(getComputedStyle(answer.dom).backgroundColor, 'rgb(255, 255, 255)');
    assert.deepEqual(shown(page), [
      { role: 'user', text: 'hi', typing: false, note: '' },
      { role: 'assistant', text: 'yo', typing: true, note: '' },
    ]);
  } finally {
    page.close();
  }
});

test('the page shows the answer progressively and exactly, in two turns', async () => {
  const request = createRequest({ r: rng(11) });
  const page = openPage(env('SSECHAT_SLOW_URL'), request);
  try {
    const turns = ['你好！请用一句话介绍你自己。👩‍👩‍👧‍👦', 'and a second turn, e\u0301'];
    for (const [i, text] of turns.entries()) {
      const from = page.renders.length;
      await ask(page, text);
      const messages = shown(page);
      assert.equal(messages.length, 2 * (i + 1));
      assert.deepEqual(messages[messages.length - 2], { role: 'user', text, typing: false, note: '' });
      assert.deepEqual(messages[messages.length - 1], { role: 'assistant', text, typing: false, note: '' });
      assert.equal(errorShown(page), '');
      const renders = page.renders.slice(from);
      assert.ok(renders.length >= 3, `${renders.length} renders`);
      for (const s of renders) assert.ok(text.startsWith(s), JSON.stringify(s));
    }
    // The second request carried the whole conversation.
    const sent = JSON.parse(request.tasks[1].request.data);
    assert.deepEqual(sent.messages.map((m) => m.role), ['user', 'assistant', 'user']);
    assert.deepEqual(sent.messages.map((m) => m.content), [turns[0], turns[0], turns[1]]);
  } finally {
    page.close();
  }
});

test('tapping Stop ends the answer where it is and notes it', async () => {
  const request = createRequest({ r: rng(12) });
  const page = openPage(env('SSECHAT_SLOW_URL'), request);
  try {
    const text = 'a long answer, long enough to be stopped before its end: ' + '长'.repeat(100);
    const settled = page.settled();
    page.querySelector('.input').dispatchEvent('input', { detail: { value: text } });
    await new Promise((resolve) => setImmediate(resolve));
    page.querySelector('.send').dispatchEvent('tap');
    // Tap Stop once the first text is shown.
    await new Promise((resolve) => {
      const observer = new MutationObserver(() => {
        if (page.renders.some((r) => r.length > 0)) {
          observer.disconnect();
          page.querySelector('.stop').dispatchEvent('tap');
          resolve();
        }
      });
      observer.observe(page.dom, { subtree: true, childList: true, characterData: true });
    });
    await settled;
    const answer = shown(page)[1];
    assert.equal(answer.note, 'Stopped');
    assert.ok(answer.text.length > 0 && answer.text.length < text.length && text.startsWith(answer.text), JSON.stringify(answer.text));
    assert.equal(answer.typing, false);
    assert.ok(page.querySelector('.send'), 'Send is back');
    assert.equal(request.tasks[0].listeners(), 0);
  } finally {
    page.close();
  }
});

test('errors are shown: before the stream and during it', async () => {
  const upstream = env('SSECHAT_UPSTREAM_URL');
  let page = openPage(upstream, createRequest({ r: rng(13) }));
  try {
    await ask(page, 'status 429');
    assert.match(errorShown(page), /rate_limited/);
  } finally {
    page.close();
  }
  page = openPage(upstream, createRequest({ r: rng(14) }));
  try {
    await ask(page, 'mid-error');
    assert.match(errorShown(page), /\(\w+\)$/);
    assert.ok(shown(page)[1].text.length > 0, 'the text before the error stays');
  } finally {
    page.close();
  }
  // Cut before the first whole event: nothing to resume from.
  page = openPage(upstream, createRequest({ r: rng(15), endAfter: 5 }));
  try {
    await ask(page, 'a cut answer');
    assert.match(errorShown(page), /connection was lost/);
    assert.equal(shown(page)[1].note, 'Interrupted');
  } finally {
    page.close();
  }
});

test('a cut answer resumes: the page shows one continuous answer', async () => {
  const text = '一个被截断的回答，续传后完整显示。'.repeat(4);
  const request = createRequest({ r: rng(16), requests: [{ endAfter: 300 }, { breakAfter: 200 }] });
  const page = openPage(env('SSECHAT_URL'), request);
  try {
    await ask(page, text);
    assert.equal(request.tasks.length, 3, 'two resumes');
    assert.equal(errorShown(page), '');
    assert.deepEqual(shown(page)[1], { role: 'assistant', text, typing: false, note: '' });
    page.renders.forEach((r, i) => assert.ok(text.startsWith(r) && (i === 0 || r.startsWith(page.renders[i - 1])), `render ${i} ${JSON.stringify(r)}`));
  } finally {
    page.close();
  }
});

test('every answer carries the AI label; an answer the server filtered is shown as such: the retraction instead of its text', async () => {
  const page = openPage(env('SSECHAT_FILTER_URL'), createRequest({ r: rng(19) }));
  try {
    await ask(page, '第一句话。这里有敏感词，不该显示');
    const answer = page.dom.querySelectorAll('.chat--assistant')[0];
    assert.equal(answer.querySelector('.chat--ai-label').textContent, 'AI生成');
    const m = shown(page)[1];
    assert.equal(m.note, '内容已过滤 Filtered');
    assert.equal(m.text, '该回答已被过滤');
    assert.match(errorShown(page), /content_filtered/);
  } finally {
    page.close();
  }
});

test('leaving the page aborts its request', async () => {
  const request = createRequest({ r: rng(17) });
  const page = openPage(env('SSECHAT_SLOW_URL'), request);
  page.querySelector('.input').dispatchEvent('input', { detail: { value: 'an answer the user does not wait for' } });
  await new Promise((resolve) => setImmediate(resolve));
  page.querySelector('.send').dispatchEvent('tap');
  await new Promise((resolve) => {
    const observer = new MutationObserver(() => {
      if (page.querySelector('.stop')) {
        observer.disconnect();
        resolve();
      }
    });
    observer.observe(page.dom, { subtree: true, childList: true });
  });
  page.close();
  assert.equal(request.tasks.length, 1);
  assert.equal(request.tasks[0].state.aborted, true);
});

test('a reasoning model: the thinking streams in an open block above the answer, folds once the answer is complete, a tap opens it; a status line while the tool runs', async () => {
  const request = createRequest({ r: rng(18) });
  const page = openPage(env('SSECHAT_SLOW_PARTS_URL'), request);
  try {
    const message = '数一数 👋🏽';
    const reasoning = 'Thinking about: ' + message;
    await ask(page, message);
    const answer = shown(page)[1];
    assert.equal(answer.text, `Your message has ${Array.from(message).length} characters.`);
    assert.equal(answer.typing, false);
    // Folded once the answer is complete; the head says it is done.
    assert.equal(answer.head, 'Thought ▸');
    assert.equal(answer.reasoning, '');
    assert.equal(answer.status, undefined, 'the status line is gone once the tool is done');
    // While it streamed, the thinking was shown as it grew.
    assert.ok(page.thoughts.length >= 3, `${page.thoughts.length} renders of the thinking`);
    page.thoughts.forEach((r) => assert.ok(reasoning.startsWith(r), JSON.stringify(r)));
    assert.equal(page.thoughts[page.thoughts.length - 1], reasoning);
    // A status line was shown while the tool was called and ran (which of
    // its states got rendered depends on how the network cut the events).
    const states = ['Calling message_length…', 'Running message_length…', 'Counting the characters…'];
    assert.ok(page.statuses.length > 0, 'no status line was rendered');
    page.statuses.forEach((st) => assert.ok(states.includes(st), JSON.stringify(page.statuses)));
    // A tap on the head opens the block with the whole reasoning.
    page.querySelector('.reasoning-head').dispatchEvent('tap');
    await new Promise((resolve) => setImmediate(resolve));
    assert.deepEqual([shown(page)[1].head, shown(page)[1].reasoning], ['Thought ▾', reasoning]);
  } finally {
    page.close();
  }
});
