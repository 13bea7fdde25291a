'use strict';
// A seeded random number generator (mulberry32), so that every failure
// can be replayed from the seed the test prints.

function rng(seed) {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  // int returns an integer in [0, n).
  next.int = (n) => Math.floor(next() * n);
  return next;
}

// cuts returns the sizes of the pieces to cut n bytes into: 'one' is one
// byte at a time, 'whole' everything at once, 'random' pieces of random
// size, mostly small (a few bytes) and sometimes large.
function cuts(n, how, r) {
  const out = [];
  if (how === 'whole') return n > 0 ? [n] : [];
  let left = n;
  while (left > 0) {
    let size = 1;
    if (how === 'random') size = r() < 0.8 ? 1 + r.int(8) : 1 + r.int(512);
    size = Math.min(size, left);
    out.push(size);
    left -= size;
  }
  return out;
}

module.exports = { rng, cuts };
