// A typewriter renderer for a mini program page: it reveals streamed text at
// a steady pace and calls render at most once per interval, because setData
// is what costs in a mini program (the DevTools audit flags more than about
// 20 calls a second).
//
//   const { createTypewriter } = require('../../utils/typewriter')
//   const tw = createTypewriter((text, finished) => this.setData({ answer: text }))
//   streamChat({ ..., onText: tw.update, onDone: tw.finish, onError: tw.finish })
//   // in onUnload: tw.cancel()
//
// CommonJS, ES2017, no dependencies.
'use strict';

const segmenter =
  typeof Intl !== 'undefined' && typeof Intl.Segmenter === 'function' ? new Intl.Segmenter(undefined, { granularity: 'grapheme' }) : null;

function codePointAt(s, i) {
  const c = s.charCodeAt(i);
  if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length) {
    const d = s.charCodeAt(i + 1);
    if (d >= 0xdc00 && d <= 0xdfff) return 0x10000 + ((c - 0xd800) << 10) + (d - 0xdc00);
  }
  return c;
}

// extends reports whether code point cp belongs to the character before it:
// combining marks, joiners, variation selectors, emoji modifiers and tags.
function extendsPrevious(cp) {
  return (
    (cp >= 0x300 && cp <= 0x36f) ||
    (cp >= 0x1ab0 && cp <= 0x1aff) ||
    (cp >= 0x1dc0 && cp <= 0x1dff) ||
    (cp >= 0x20d0 && cp <= 0x20ff) ||
    (cp >= 0xfe00 && cp <= 0xfe0f) ||
    (cp >= 0xfe20 && cp <= 0xfe2f) ||
    cp === 0x200d ||
    (cp >= 0x1f3fb && cp <= 0x1f3ff) ||
    (cp >= 0xe0020 && cp <= 0xe007f) ||
    (cp >= 0xe0100 && cp <= 0xe01ef)
  );
}

// boundaryFrom returns the first character boundary at or after code unit i.
// With Intl.Segmenter the boundaries are grapheme clusters'; without it
// (older mini program base libraries) they never split a surrogate pair, a
// joined emoji sequence or a letter from its combining marks.
function boundaryFrom(s, i) {
  if (i <= 0) return 0;
  if (i >= s.length) return s.length;
  if (segmenter) {
    const seg = segmenter.segment(s).containing(i);
    return seg.index === i ? i : seg.index + seg.segment.length;
  }
  for (;;) {
    if (i >= s.length) return s.length;
    const c = s.charCodeAt(i);
    const prev = s.charCodeAt(i - 1);
    if (c >= 0xdc00 && c <= 0xdfff && prev >= 0xd800 && prev <= 0xdbff) {
      i++;
      continue;
    }
    const cp = codePointAt(s, i);
    if (extendsPrevious(cp) || prev === 0x200d) {
      i += cp > 0xffff ? 2 : 1;
      continue;
    }
    return i;
  }
}

function commonPrefix(a, b) {
  const n = Math.min(a.length, b.length);
  let i = 0;
  while (i < n && a.charCodeAt(i) === b.charCodeAt(i)) i++;
  return i;
}

// createTypewriter returns a renderer that calls render(text, finished) with
// the text revealed so far:
//   update(text)  the whole text so far (onText's argument); text that
//                 replaces what was shown (a snapshot that changed) is
//                 followed from where the two agree
//   finish()      the stream ended: reveal the rest within about
//                 finishTicks intervals, then render(text, true) once
//   cancel()      stop now; render is not called again
// Options: interval (ms between renders, default 50), catchUpTicks (new text
// is revealed evenly over about this many intervals, default 6), finishTicks
// (default 4).
function createTypewriter(render, options) {
  if (typeof render !== 'function') throw new TypeError('createTypewriter: render must be a function');
  const opts = options || {};
  const interval = opts.interval === undefined ? 50 : opts.interval;
  const catchUpTicks = opts.catchUpTicks || 6;
  const finishTicks = opts.finishTicks || 4;
  if (!(interval > 0)) throw new TypeError('createTypewriter: interval must be a positive number of milliseconds');

  let target = '';
  let shown = 0; // code units of target revealed
  let step = 1; // code units to reveal per tick
  let ended = false;
  let over = false;
  let timer = null;

  function schedule() {
    if (timer === null && !over) timer = setTimeout(tick, interval);
  }

  function pace(ticks) {
    step = Math.max(step, Math.ceil((target.length - shown) / ticks), 1);
  }

  function tick() {
    timer = null;
    if (over) return;
    if (shown < target.length) shown = boundaryFrom(target, shown + step);
    if (ended && shown >= target.length) {
      over = true;
      render(target, true);
      return;
    }
    render(target.slice(0, shown), false);
    if (shown < target.length || ended) schedule();
  }

  return {
    update(text) {
      if (over || typeof text !== 'string' || text === target) return;
      const keep = commonPrefix(text, target.slice(0, shown));
      if (keep < shown) shown = keep > 0 ? boundaryFrom(text, keep) : 0;
      target = text;
      step = 1;
      pace(ended ? finishTicks : catchUpTicks);
      schedule();
    },
    finish() {
      if (over || ended) return;
      ended = true;
      pace(finishTicks);
      schedule();
    },
    cancel() {
      over = true;
      if (timer !== null) clearTimeout(timer);
      timer = null;
    },
    // text returns the text revealed so far.
    text() {
      return target.slice(0, shown);
    },
  };
}

module.exports = { createTypewriter: createTypewriter, boundaryFrom: boundaryFrom };
