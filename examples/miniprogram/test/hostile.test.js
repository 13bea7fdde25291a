'use strict';
// streamChat against hostile and broken servers (Node http servers on
// loopback, written for these tests): each must end in bounded time and
// requests, with the right callback, and never apply an event twice.
const test = require('node:test');
const assert = require('node:assert/strict');
const http = require('node:http');
const { streamChat } = require('../utils/ssechat');
const { createRequest } = require('./wxrequest');
const { rng } = require('./rand');

const ID = 'HOSTILESTREAM0000000000000';
const ev = (n, type, data) => `id: ${ID}.${n}\nevent: ${type}\ndata: ${JSON.stringify(data)}\n\n`;
const HEAD = { 'Content-Type': 'text/event-stream; charset=utf-8', 'Cache-Control': 'no-cache' };

// serve starts a server whose handler gets (req, res, n) with n the
// request's number from 0, and returns {url, requests(), close()}.
async function serve(handler) {
  let n = 0;
  const sockets = new Set();
  const srv = http.createServer((req, res) => {
    req.resume();
    handler(req, res, n++);
  });
  srv.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise((resolve) => srv.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${srv.address().port}/chat`,
    requests: () => n,
    close: () => {
      sockets.forEach((s) => s.destroy());
      return new Promise((resolve) => srv.close(resolve));
    },
  };
}

// chat runs one streamChat and resolves with what it reported, or rejects
// if it has not ended within ms.
function chat(options, ms = 5000) {
  return new Promise((resolve, reject) => {
    const got = { texts: [], done: [], errors: [] };
    const timer = setTimeout(() => {
      got.task.abort();
      reject(new Error(`no end within ${ms} ms: ${got.texts.length} texts, last ${JSON.stringify(got.texts[got.texts.length - 1] || '').slice(0, 80)}`));
    }, ms);
    const end = () => {
      clearTimeout(timer);
      setImmediate(() => resolve(got));
    };
    got.task = streamChat(
      Object.assign(
        {
          data: { messages: [{ role: 'user', content: 'hi' }] },
          request: createRequest({ r: rng(31) }),
          retryDelay: 1,
          onText: (t) => got.texts.push(t),
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

function oneError(got, code) {
  assert.equal(got.done.length, 0, 'done');
  assert.equal(got.errors.length, 1, 'errors');
  assert.equal(got.errors[0].code, code, got.errors[0].message);
  return got.errors[0];
}

test('a server that ignores the resume and replays from the start: bad_response at the first replay, the text not repeated', async () => {
  for (const how of ['end', 'reset']) {
    const s = await serve((req, res) => {
      res.writeHead(200, HEAD);
      res.write(ev(0, 'start', { id: ID }) + ev(1, 'delta', { text: 'Hello world. ' }), () => {
        if (how === 'end') res.end();
        else res.socket.destroy();
      });
    });
    try {
      const got = await chat({ url: s.url });
      const e = oneError(got, 'bad_response');
      assert.equal(e.text, 'Hello world. ', how);
      assert.ok(got.texts.every((t) => t === 'Hello world. '), how);
      assert.equal(s.requests(), 2, how);
    } finally {
      await s.close();
    }
  }
});

test('a resume whose ids are not after the last one is not applied', async () => {
  // The resume starts again at event 1 (no start event): it is not applied.
  const s = await serve((req, res, n) => {
    res.writeHead(200, HEAD);
    if (n === 0) res.end(ev(0, 'start', { id: ID }) + ev(1, 'delta', { text: 'one ' }) + ev(2, 'delta', { text: 'two ' }));
    else res.end(ev(1, 'delta', { text: 'one ' }) + ev(2, 'delta', { text: 'two ' }) + ev(3, 'done', { finish_reason: 'stop' }));
  });
  try {
    const got = await chat({ url: s.url });
    assert.equal(oneError(got, 'bad_response').text, 'one two ');
  } finally {
    await s.close();
  }
});

test('a server that rotates without ever sending a new event: no progress, bounded', async () => {
  const s = await serve((req, res, n) => {
    res.writeHead(200, HEAD);
    if (n === 0) res.end(ev(0, 'start', { id: ID }) + ev(1, 'delta', { text: 'partial' }));
    else res.end(`event: reconnect\ndata: {"last_event_id":"${ID}.1"}\nretry: 100\n\n`);
  });
  try {
    const got = await chat({ url: s.url, maxRetries: 3 });
    assert.equal(oneError(got, 'interrupted').text, 'partial');
    assert.equal(s.requests(), 1 + 4, 'the first request, then maxRetries + 1 resumes that bring nothing');
  } finally {
    await s.close();
  }
});

test('an answer that never ends, however much progress each resume makes: bounded in total', async () => {
  const s = await serve((req, res, n) => {
    res.writeHead(200, HEAD);
    const head = n === 0 ? ev(0, 'start', { id: ID }) : '';
    res.end(head + ev(n + 1, 'delta', { text: 'x' }));
  });
  try {
    const got = await chat({ url: s.url, maxResumes: 20 });
    assert.equal(oneError(got, 'interrupted').text, 'x'.repeat(21));
    assert.equal(s.requests(), 21);
  } finally {
    await s.close();
  }
});

test('a connection reset in the middle of a character: the whole events are kept, bounded', async () => {
  const s = await serve((req, res) => {
    res.writeHead(200, HEAD);
    const whole = ev(0, 'start', { id: ID }) + ev(1, 'delta', { text: '你好' });
    const half = Buffer.from(ev(2, 'delta', { text: '世界' })).subarray(0, 30); // inside 世
    res.write(Buffer.concat([Buffer.from(whole), half]), () => res.socket.destroy());
  });
  try {
    const got = await chat({ url: s.url, resume: false });
    const e = oneError(got, 'interrupted');
    assert.equal(e.text, '你好');
    assert.equal(s.requests(), 1);
  } finally {
    await s.close();
  }
});

test('an event that never ends is capped: bad_response, and the connection is closed', async () => {
  for (const how of ['no blank line', 'no newline']) {
    let closed;
    const gone = new Promise((resolve) => (closed = resolve));
    const s = await serve((req, res) => {
      res.writeHead(200, HEAD);
      res.write(ev(0, 'start', { id: ID }) + (how === 'no newline' ? 'data: ' : ''));
      const line = how === 'no newline' ? 'x'.repeat(64 * 1024) : 'data: ' + 'x'.repeat(64 * 1024) + '\n';
      const pump = () => {
        while (!res.destroyed && res.write(line));
        if (!res.destroyed) res.once('drain', pump);
      };
      res.on('close', closed);
      pump();
    });
    try {
      const got = await chat({ url: s.url, maxEventSize: 1 << 20 });
      assert.equal(oneError(got, 'bad_response').text, '', how);
      await gone; // the client closed the connection
      assert.equal(s.requests(), 1, how);
    } finally {
      await s.close();
    }
  }
});

test('the stand-in reports a server that closes right after the headers', async () => {
  const s = await serve((req, res) => {
    res.writeHead(200, HEAD);
    res.flushHeaders();
    setImmediate(() => res.socket.destroy());
  });
  try {
    const got = await chat({ url: s.url, resume: false });
    oneError(got, 'network');
  } finally {
    await s.close();
  }
});

test('the stand-in delivers the whole events it holds when the connection is reset', async () => {
  const s = await serve((req, res) => {
    res.writeHead(200, HEAD);
    res.write(ev(0, 'start', { id: ID }) + ev(1, 'delta', { text: 'Hello ' }) + ev(2, 'delta', { text: 'world.' }), () => res.socket.destroy());
  });
  try {
    // 'whole' holds every byte until the end: a reset must not drop them.
    const got = await chat({ url: s.url, resume: false, request: createRequest({ cut: 'whole' }) });
    assert.equal(oneError(got, 'interrupted').text, 'Hello world.');
  } finally {
    await s.close();
  }
});
