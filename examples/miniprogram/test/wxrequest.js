'use strict';
// A stand-in for wx.request built on Node's http, behaving as the mini
// program platform does with enableChunked: the body arrives through
// onChunkReceived as ArrayBuffer pieces cut at arbitrary bytes (here: at
// seeded random positions, one byte at a time, or all at once), the status
// through onHeadersReceived, and success is called whatever the status.
//
// Options, to play the platforms' variations:
//   r            a seeded generator (./rand.js); cut  'random' | 'one' | 'whole'
//   chunks       false: onChunkReceived never fires (PC WeChat)
//   successData  'none' (devices), 'arraybuffer' or 'string': the whole body
//                again in success
//   chunksUntil  chunk callbacks stop after this many bytes, as on iOS when
//                a newer chunked request opens; success still has the body
//   headerStatus false: onHeadersReceived has no statusCode (DevTools)
//   breakAfter   the connection breaks after this many bytes: fail
//                ("request:fail interrupted")
//   endAfter     the response ends cleanly after this many bytes
//   timeoutMs    the platform's cap: after this long the request fails
//                ("request:fail timeout"), as WeChat's 60 s limit does
//   interruptMs  after this long the request fails ("request:fail
//                interrupted"), as 5 s after the app goes to the background
//   requests     per-request overrides by request number: [{...}, {...}]
const http = require('node:http');
const { rng } = require('./rand');

function createRequest(opts) {
  const base = Object.assign({ cut: 'random', chunks: true, successData: 'none', headerStatus: true }, opts);
  if (!base.r) base.r = rng(1);
  const tasks = [];
  function request(req) {
    const o = Object.assign({}, base, (base.requests && base.requests[tasks.length]) || {});
    const headerFns = new Set();
    const chunkFns = new Set();
    const state = { aborted: false, ended: false, afterAbort: 0 };
    const all = [];
    let pending = Buffer.alloc(0);
    let delivered = 0;
    let size = 0;

    const limit = Math.min(o.breakAfter === undefined ? Infinity : o.breakAfter, o.endAfter === undefined ? Infinity : o.endAfter);
    const nextSize = () => (o.cut === 'one' ? 1 : o.r() < 0.8 ? 1 + o.r.int(8) : 1 + o.r.int(512));
    let pieces = 0;
    let sent = 0;
    const deliver = (buf) => {
      all.push(buf);
      sent += buf.length;
      if (!o.chunks || sent > (o.chunksUntil === undefined ? Infinity : o.chunksUntil)) return;
      pieces++;
      const ab = buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.length);
      for (const fn of Array.from(chunkFns)) fn({ data: ab });
    };
    const pump = (final) => {
      if (o.cut === 'whole') {
        if (final && pending.length > 0) deliver(pending);
        if (final) pending = Buffer.alloc(0);
        return;
      }
      while (pending.length > 0 && !state.aborted) {
        if (size === 0) size = nextSize();
        if (pending.length < size && !final) return;
        const n = Math.min(size, pending.length);
        const piece = pending.subarray(0, n);
        pending = pending.subarray(n);
        size = 0;
        deliver(piece);
      }
    };
    const finish = (call, arg) => {
      if (state.ended) return;
      state.ended = true;
      if (state.aborted) state.afterAbort++;
      call(arg);
    };

    const r = http.request(req.url, { method: req.method || 'GET', headers: req.header }, (res) => {
      const header = Object.assign({}, res.headers);
      const h = { header };
      if (o.headerStatus) h.statusCode = res.statusCode;
      for (const fn of Array.from(headerFns)) fn(h);
      res.on('data', (d) => {
        if (state.aborted || delivered >= limit) return;
        const take = d.subarray(0, Math.max(0, limit - delivered));
        delivered += take.length;
        pending = Buffer.concat([pending, take]);
        pump(false);
        if (delivered >= limit) {
          pump(true);
          r.destroy();
          if (o.breakAfter !== undefined && delivered >= o.breakAfter) {
            finish(req.fail, { errMsg: 'request:fail interrupted' });
          } else {
            finish(req.success, successArg(res.statusCode, header));
          }
        }
      });
      res.on('end', () => {
        if (state.aborted || state.ended) return;
        pump(true);
        finish(req.success, successArg(res.statusCode, header));
      });
      // The server closed or reset the connection before the body's end
      // (after the headers, or mid-body): the platform delivers what it
      // holds, then reports the failure.
      res.on('close', () => {
        if (state.aborted || state.ended || res.complete) return;
        pump(true);
        finish(req.fail, { errMsg: 'request:fail connection reset' });
      });
    });
    const successArg = (statusCode, header) => {
      const body = Buffer.concat(all);
      let data = '';
      if (o.successData === 'arraybuffer') data = body.buffer.slice(body.byteOffset, body.byteOffset + body.length);
      if (o.successData === 'string') data = body.toString('utf8');
      return { statusCode, header, data, cookies: [] };
    };
    r.on('error', (err) => {
      if (state.aborted) return finish(req.fail, { errMsg: 'request:fail abort' });
      pump(true); // what arrived before the error still reaches the client
      finish(req.fail, { errMsg: 'request:fail ' + err.message });
    });
    r.end(req.data);
    // The platform's own cuts, by time.
    const timers = [];
    const cutAt = (ms, errMsg) => {
      if (ms === undefined) return;
      timers.push(
        setTimeout(() => {
          if (state.ended || state.aborted) return;
          pump(true);
          r.destroy();
          finish(req.fail, { errMsg });
        }, ms),
      );
    };
    cutAt(o.timeoutMs, 'request:fail timeout');
    cutAt(o.interruptMs, 'request:fail interrupted');
    r.on('close', () => timers.forEach(clearTimeout));

    const task = {
      state,
      // request is what the client passed to wx.request.
      request: req,
      listeners: () => headerFns.size + chunkFns.size,
      onHeadersReceived: (fn) => headerFns.add(fn),
      offHeadersReceived: (fn) => (fn ? headerFns.delete(fn) : headerFns.clear()),
      onChunkReceived: (fn) => chunkFns.add(fn),
      offChunkReceived: (fn) => (fn ? chunkFns.delete(fn) : chunkFns.clear()),
      // body returns every byte the server sent so far.
      body: () => Buffer.concat(all),
      // pieces returns how many pieces onChunkReceived was called with.
      pieces: () => pieces,
      abort() {
        state.aborted = true;
        r.destroy();
        // The platform reports the abort through fail; the client must
        // ignore it.
        setImmediate(() => finish(req.fail, { errMsg: 'request:fail abort' }));
      },
      done: new Promise((resolve) => r.on('close', resolve)),
    };
    tasks.push(task);
    return task;
  }
  request.tasks = tasks;
  return request;
}

module.exports = { createRequest };
