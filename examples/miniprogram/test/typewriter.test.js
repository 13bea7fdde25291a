'use strict';
// The typewriter calls render at most once per interval, reveals text at a
// steady pace, never splits a character, and finishes promptly. Time is
// Node's mock timers: no test waits for real.
const test = require('node:test');
const assert = require('node:assert/strict');
const { createTypewriter, boundaryFrom } = require('../utils/typewriter');

// setup returns a typewriter whose renders are recorded with their time.
function setup(t, options) {
  t.mock.timers.enable({ apis: ['setTimeout'] });
  let now = 0;
  const renders = [];
  const tw = createTypewriter((text, finished) => renders.push({ at: now, text, finished }), options);
  const advance = (ms) => {
    for (let i = 0; i < ms; i++) {
      now++;
      t.mock.timers.tick(1);
    }
  };
  return { tw, renders, advance };
}

function checkSpacing(renders, interval) {
  for (let i = 1; i < renders.length; i++) {
    assert.ok(renders[i].at - renders[i - 1].at >= interval, `renders ${i - 1} and ${i} are ${renders[i].at - renders[i - 1].at} ms apart`);
  }
}

test('a stream of small pieces: at most one render per interval, every render a prefix, exact at the end', (t) => {
  const { tw, renders, advance } = setup(t, { interval: 50 });
  const text = '你好，世界！👩‍👩‍👧‍👦 e\u0301 '.repeat(20);
  // A piece every 10 ms, a few characters each: faster than the renders.
  let sent = 0;
  while (sent < text.length) {
    sent = Math.min(text.length, boundaryFrom(text, sent + 3));
    tw.update(text.slice(0, sent));
    advance(10);
  }
  tw.finish();
  advance(1000);
  checkSpacing(renders, 50);
  const last = renders[renders.length - 1];
  assert.deepEqual([last.text, last.finished], [text, true]);
  assert.equal(renders.filter((r) => r.finished).length, 1);
  for (const r of renders) {
    assert.ok(text.startsWith(r.text));
    assert.equal(boundaryFrom(text, r.text.length), r.text.length, `render split a character: ${JSON.stringify(r.text.slice(-4))}`);
  }
  // About as many renders as intervals: no render for nothing.
  assert.ok(renders.length <= Math.ceil(last.at / 50) + 1, `${renders.length} renders in ${last.at} ms`);
});

test('a burst is revealed at a steady pace, then finished promptly', (t) => {
  const { tw, renders, advance } = setup(t, { interval: 50, catchUpTicks: 6 });
  const text = 'x'.repeat(600);
  tw.update(text);
  advance(150); // three renders while the stream goes on
  const steps = renders.map((r, i) => r.text.length - (i > 0 ? renders[i - 1].text.length : 0));
  assert.deepEqual(steps, [100, 100, 100], 'even steps');
  tw.finish();
  advance(50 * 4);
  const last = renders[renders.length - 1];
  assert.equal(last.text, text);
  assert.ok(last.finished);
  assert.ok(last.at <= 150 + 4 * 50, `finished at ${last.at} ms`);
  checkSpacing(renders, 50);
});

test('finish with nothing left renders the final text once', (t) => {
  const { tw, renders, advance } = setup(t, {});
  tw.update('ab');
  advance(100);
  tw.finish();
  tw.finish();
  advance(1000);
  assert.deepEqual(renders.map((r) => [r.text, r.finished]), [['a', false], ['ab', false], ['ab', true]]);
});

test('a snapshot that changes earlier text is followed from where the two agree', (t) => {
  const { tw, renders, advance } = setup(t, { interval: 50 });
  tw.update('hello world');
  advance(1000);
  tw.update('hello there, world');
  tw.finish();
  advance(1000);
  assert.equal(renders[renders.length - 1].text, 'hello there, world');
  for (const r of renders.slice(renders.findIndex((r) => r.text === 'hello world') + 1)) {
    assert.ok('hello there, world'.startsWith(r.text), JSON.stringify(r.text));
  }
});

test('cancel stops every render', (t) => {
  const { tw, renders, advance } = setup(t, {});
  tw.update('some text');
  tw.cancel();
  tw.update('more text');
  tw.finish();
  advance(1000);
  assert.equal(renders.length, 0);
});

test('bad arguments throw', () => {
  assert.throws(() => createTypewriter(), TypeError);
  assert.throws(() => createTypewriter(() => {}, { interval: 0 }), TypeError);
  assert.throws(() => createTypewriter(() => {}, { interval: -5 }), TypeError);
});

test('character boundaries: with and without Intl.Segmenter', () => {
  const cases = [
    ['👩‍👩‍👧‍👦x', 1, 11],
    ['👩‍👩‍👧‍👦x', 2, 11],
    ['e\u0301x', 1, 2],
    ['a👋🏽b', 2, 5],
    ['ab', 1, 1],
    ['🏳️‍🌈!', 3, 6],
  ];
  for (const [s, i, want] of cases) assert.equal(boundaryFrom(s, i), want, `${JSON.stringify(s)} from ${i}`);
  // Without Intl.Segmenter (older base libraries), the fallback rules.
  const Segmenter = Intl.Segmenter;
  delete require.cache[require.resolve('../utils/typewriter')];
  Intl.Segmenter = undefined;
  try {
    const fallback = require('../utils/typewriter').boundaryFrom;
    for (const [s, i, want] of cases) assert.equal(fallback(s, i), want, `fallback: ${JSON.stringify(s)} from ${i}`);
  } finally {
    Intl.Segmenter = Segmenter;
    delete require.cache[require.resolve('../utils/typewriter')];
  }
});
