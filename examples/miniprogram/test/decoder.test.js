'use strict';
// The decoder must give exactly what TextDecoder('utf-8') gives with
// {stream: true}, for any bytes cut anywhere.
const test = require('node:test');
const assert = require('node:assert/strict');
const { Utf8Decoder, utf8Encode } = require('../utils/ssechat');
const { rng, cuts } = require('./rand');

function decodeInPieces(bytes, sizes) {
  const d = new Utf8Decoder();
  let out = '';
  let off = 0;
  for (const n of sizes) {
    out += d.decode(bytes.subarray(off, off + n), true);
    off += n;
  }
  return out + d.decode(null, false);
}

function reference(bytes) {
  return new TextDecoder('utf-8').decode(bytes);
}

const samples = [
  '你好，世界',
  '👩‍👩‍👧‍👦 🏳️‍🌈 👋🏽 🇨🇳',
  'e\u0301 a\u0308 \u0915\u094d\u0937',
  '\ufeffBOM first',
  'line\r\nbreak\rcr\nlf',
  '\u0000\u007f\u0080\u07ff\u0800\uffff\u{10000}\u{10ffff}',
];

const invalid = [
  [0x80], [0xbf], [0xc0, 0x80], [0xc1, 0xbf], [0xc2], [0xe0, 0x80, 0x80], [0xe0, 0xa0],
  [0xed, 0xa0, 0x80], [0xed, 0x9f, 0xbf], [0xef, 0xbf], [0xf0, 0x80, 0x80, 0x80], [0xf0, 0x90, 0x80],
  [0xf4, 0x90, 0x80, 0x80], [0xf5], [0xff], [0xfe], [0xf8, 0x88, 0x80, 0x80, 0x80],
  [0xe2, 0x28, 0xa1], [0xf0, 0x28, 0x8c, 0x28], [0xc3, 0x28], [0xef, 0xbb, 0xbf], [0xef, 0xbb],
];

test('known cases decode as TextDecoder does, whole and one byte at a time', () => {
  const cases = samples.map((s) => new TextEncoder().encode(s)).concat(invalid.map((b) => new Uint8Array(b)));
  for (const bytes of cases) {
    const want = reference(bytes);
    assert.equal(decodeInPieces(bytes, cuts(bytes.length, 'whole')), want, `whole ${Array.from(bytes)}`);
    assert.equal(decodeInPieces(bytes, cuts(bytes.length, 'one')), want, `bytewise ${Array.from(bytes)}`);
  }
});

test('a leading byte order mark is dropped once, also when split', () => {
  const bytes = new Uint8Array([0xef, 0xbb, 0xbf, 0xef, 0xbb, 0xbf, 0x41]);
  assert.equal(decodeInPieces(bytes, [1, 1, 1, 4]), '\ufeffA');
  assert.equal(decodeInPieces(bytes, [2, 5]), '\ufeffA');
});

test('random bytes cut at random positions decode as TextDecoder does', () => {
  const seed = 20261123;
  const r = rng(seed);
  const pieces = samples.map((s) => Array.from(new TextEncoder().encode(s))).concat(invalid);
  for (let iter = 0; iter < 3000; iter++) {
    // Mix valid text, invalid sequences and random bytes.
    const bytes = [];
    const parts = 1 + r.int(6);
    for (let p = 0; p < parts; p++) {
      const k = r();
      if (k < 0.5) bytes.push(...pieces[r.int(pieces.length)]);
      else for (let j = r.int(6); j > 0; j--) bytes.push(r.int(256));
    }
    const u8 = new Uint8Array(bytes);
    const want = reference(u8);
    const how = iter % 10 === 0 ? 'one' : 'random';
    const got = decodeInPieces(u8, cuts(u8.length, how, r));
    assert.equal(got, want, `seed ${seed} iteration ${iter}: bytes ${bytes}`);
  }
});

test('utf8Encode agrees with TextEncoder', () => {
  for (const s of samples.concat(['\ud800 lone', 'x\udc00', ''])) {
    assert.deepEqual(Array.from(utf8Encode(s)), Array.from(new TextEncoder().encode(s)), s);
  }
});
