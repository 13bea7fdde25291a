'use strict';
// The event stream parser follows the HTML standard's rules, whatever the
// pieces the text arrives in.
const test = require('node:test');
const assert = require('node:assert/strict');
const { EventStreamParser, Utf8Decoder } = require('../utils/ssechat');
const { rng, cuts } = require('./rand');

// parse feeds bytes to a decoder and a parser in the given pieces, as the
// client does, and returns the events and the parser.
function parse(bytes, sizes) {
  const events = [];
  const p = new EventStreamParser((ev) => events.push(ev));
  const d = new Utf8Decoder();
  let off = 0;
  for (const n of sizes) {
    p.push(d.decode(bytes.subarray(off, off + n), true));
    off += n;
  }
  assert.equal(off, bytes.length, 'the pieces cover the stream');
  p.push(d.decode(null, false));
  return { events, parser: p };
}

const enc = (s) => new TextEncoder().encode(s);

// Each case: a stream and the events it holds, by the standard.
const cases = [
  ['LF', 'data: a\n\n', [{ type: 'message', data: 'a', id: '' }]],
  ['CRLF', 'data: a\r\n\r\n', [{ type: 'message', data: 'a', id: '' }]],
  ['CR', 'data: a\r\r', [{ type: 'message', data: 'a', id: '' }]],
  ['mixed line ends', 'event: x\rdata: 1\r\ndata: 2\n\r\n', [{ type: 'x', data: '1\n2', id: '' }]],
  ['multi-line data', 'data: one\ndata:two\ndata:  three\ndata\n\n', [{ type: 'message', data: 'one\ntwo\n three\n', id: '' }]],
  ['comments', ': hello\n:\ndata: a\n: between\n\n', [{ type: 'message', data: 'a', id: '' }]],
  ['id carries over', 'id: 7\ndata: a\n\ndata: b\n\nid\ndata: c\n\n', [
    { type: 'message', data: 'a', id: '7' },
    { type: 'message', data: 'b', id: '7' },
    { type: 'message', data: 'c', id: '' },
  ]],
  ['id with NUL ignored', 'id: 1\n\nid: a\u0000b\ndata: x\n\n', [{ type: 'message', data: 'x', id: '1' }]],
  ['no data no event', 'event: ping\n\ndata: a\n\n', [{ type: 'message', data: 'a', id: '' }]],
  ['unknown fields', 'foo: bar\ndata: a\nevent\n\n', [{ type: 'message', data: 'a', id: '' }]],
  ['field without space', 'event:e\ndata:d\n\n', [{ type: 'e', data: 'd', id: '' }]],
  ['BOM', '\ufeffdata: a\n\n', [{ type: 'message', data: 'a', id: '' }]],
  ['unfinished event dropped', 'data: a\n\ndata: b\n', [{ type: 'message', data: 'a', id: '' }]],
  ['unfinished line dropped', 'data: a\n\ndata: b', [{ type: 'message', data: 'a', id: '' }]],
  ['CJK and emoji', 'event: delta\ndata: {"text":"你好👩‍👩‍👧"}\n\n', [{ type: 'delta', data: '{"text":"你好👩‍👩‍👧"}', id: '' }]],
  ['blank lines only', '\n\n\r\n\r\r', []],
];

for (const [name, stream, want] of cases) {
  test(`${name}: whole, one byte at a time, and random pieces`, () => {
    const bytes = enc(stream);
    assert.deepEqual(parse(bytes, cuts(bytes.length, 'whole')).events, want);
    assert.deepEqual(parse(bytes, cuts(bytes.length, 'one')).events, want);
    const r = rng(bytes.length);
    for (let i = 0; i < 200; i++) {
      assert.deepEqual(parse(bytes, cuts(bytes.length, 'random', r)).events, want);
    }
  });
}

test('a CR at the end of one piece and an LF at the start of the next are one line end', () => {
  const events = [];
  const p = new EventStreamParser((ev) => events.push(ev));
  p.push('data: a\r');
  p.push('\n');
  p.push('\r');
  p.push('\ndata: b\r');
  p.push('\r');
  assert.deepEqual(events.map((e) => e.data), ['a', 'b']);
});

test('retry takes digits only', () => {
  const bytes = enc('retry: 3000\n\nretry: 12x\n\nretry: -1\n\nretry:\n\n');
  assert.equal(parse(bytes, cuts(bytes.length, 'whole')).parser.retry, 3000);
  const one = enc('retry: 1500\n\n');
  assert.equal(parse(one, cuts(one.length, 'one')).parser.retry, 1500);
});

test('lastEventId follows the stream', () => {
  const { parser } = parse(enc('id: s.0\ndata: a\n\nid: s.1\ndata: b\n\n'), [3, 5, 26]);
  assert.equal(parser.lastEventId, 's.1');
});
