'use strict';
// Throughput of the client's decoding and parsing, the work it does per
// chunk on a phone: node examples/miniprogram/test/bench.js
//
// A recorded-style stream of 2,000 delta events of Chinese text (about
// 180 KB) is fed through Utf8Decoder and EventStreamParser in pieces of one
// byte, of random sizes (mostly 1-8 bytes), of 1 KB and all at once; and,
// for comparison, through TextDecoder with {stream: true}.
const { Utf8Decoder, EventStreamParser } = require('../utils/ssechat');
const { rng, cuts } = require('./rand');

const events = [];
for (let i = 0; i < 2000; i++) {
  events.push(`id: ABCDEFGHIJKLMNOPQRSTUVWXYZ.${i}\nevent: delta\ndata: ${JSON.stringify({ text: '流式回答的第' + i + '段，包含 emoji 👋🏽 和标点。' })}\n\n`);
}
const body = new TextEncoder().encode(events.join(''));

function run(sizes, decoderFactory) {
  let n = 0;
  const p = new EventStreamParser(() => n++);
  const d = decoderFactory();
  let off = 0;
  for (const size of sizes) {
    p.push(d(body.subarray(off, off + size)));
    off += size;
  }
  if (n !== events.length) throw new Error(`parsed ${n} events, want ${events.length}`);
}

const ours = () => {
  const d = new Utf8Decoder();
  return (b) => d.decode(b, true);
};
const native = () => {
  const d = new TextDecoder();
  return (b) => d.decode(b, { stream: true });
};

const plans = {
  'one byte': cuts(body.length, 'one'),
  'random (1-8 B, some to 512 B)': cuts(body.length, 'random', rng(1)),
  '1 KB': Array.from({ length: Math.ceil(body.length / 1024) }, (_, i) => Math.min(1024, body.length - i * 1024)),
  whole: [body.length],
};

console.log(`stream: ${events.length} events, ${(body.length / 1024).toFixed(0)} KB`);
for (const [name, sizes] of Object.entries(plans)) {
  for (const [dname, factory] of [['Utf8Decoder', ours], ['TextDecoder', native]]) {
    run(sizes, factory); // warm up
    const reps = 10;
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < reps; i++) run(sizes, factory);
    const ms = Number(process.hrtime.bigint() - t0) / 1e6 / reps;
    const mbs = body.length / 1024 / 1024 / (ms / 1000);
    console.log(`${name.padEnd(30)} ${dname.padEnd(12)} ${ms.toFixed(1).padStart(7)} ms/stream ${mbs.toFixed(1).padStart(6)} MB/s ${((ms * 1000) / events.length).toFixed(2).padStart(6)} µs/event (${sizes.length} pieces)`);
  }
}
