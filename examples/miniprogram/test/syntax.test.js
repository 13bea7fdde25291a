'use strict';
// The code that runs in the mini program (app.js, pages/, utils/) is ES2017,
// so that it runs on old base libraries without the DevTools' ES6-to-ES5
// compilation. Parsed with acorn (npm ci in examples/miniprogram).
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');

let acorn = null;
try {
  acorn = require('acorn');
} catch (e) {
  acorn = null;
}

const root = path.join(__dirname, '..');

function files(dir) {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((d) => {
    const p = path.join(dir, d.name);
    if (d.isDirectory()) return files(p);
    return d.name.endsWith('.js') ? [p] : [];
  });
}

const parse = (src) => acorn.parse(src, { ecmaVersion: 2017, sourceType: 'script' });

test('mini program code parses as ES2017', (t) => {
  if (!acorn) {
    if (process.env.CI) assert.fail('acorn is not installed: run npm ci in examples/miniprogram');
    t.skip('acorn is not installed: run npm ci in examples/miniprogram');
    return;
  }
  // The check can fail: later syntax is refused.
  for (const later of ['a?.b', 'a ?? b', 'class A { x = 1 }', 'try {} catch {}', 'const {...r} = o']) {
    assert.throws(() => parse(later), SyntaxError, later);
  }
  const shipped = [path.join(root, 'app.js')].concat(files(path.join(root, 'utils')), files(path.join(root, 'pages')));
  assert.ok(shipped.length >= 4);
  for (const file of shipped) {
    assert.doesNotThrow(() => parse(fs.readFileSync(file, 'utf8')), path.relative(root, file));
  }
});
