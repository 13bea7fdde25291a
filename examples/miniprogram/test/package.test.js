'use strict';
// The package as uni-app and Taro projects get it: loaded through its name
// and entry points, with the files it ships, and a usage sample that
// type-checks with tsc against its declarations.
const test = require('node:test');
const assert = require('node:assert/strict');
const path = require('node:path');
const fs = require('node:fs');
const { execFileSync } = require('node:child_process');

const root = path.join(__dirname, '..');
const pkg = require('../package.json');

test('the package entry points load the client and the typewriter', () => {
  const main = require('ssechat-miniprogram'); // the package referring to itself, through "exports"
  assert.equal(typeof main.streamChat, 'function');
  assert.equal(typeof main.StreamError, 'function');
  assert.equal(main, require(path.join(root, pkg.main)));
  const tw = require('ssechat-miniprogram/typewriter');
  assert.equal(typeof tw.createTypewriter, 'function');
});

test('the package ships the code, its types and its README, and nothing of the example', () => {
  assert.equal(pkg.name, 'ssechat-miniprogram');
  assert.match(pkg.version, /^\d+\.\d+\.\d+$/);
  assert.equal(pkg.private, undefined);
  for (const f of pkg.files) assert.ok(fs.existsSync(path.join(root, f)), f);
  assert.ok(fs.existsSync(path.join(root, pkg.types)), pkg.types);
  const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
  const [packed] = JSON.parse(execFileSync(npm, ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: root, encoding: 'utf8' }));
  const files = packed.files.map((f) => f.path).sort();
  assert.deepEqual(files, ['README.md', 'package.json', 'utils/ssechat.d.ts', 'utils/ssechat.js', 'utils/typewriter.d.ts', 'utils/typewriter.js']);
});

test('a usage sample type-checks against the declarations (tsc --strict)', (t) => {
  const tsc = path.join(root, 'node_modules', 'typescript', 'bin', 'tsc');
  if (!fs.existsSync(tsc)) {
    if (process.env.CI) assert.fail('typescript is not installed: run npm ci in examples/miniprogram');
    t.skip('typescript is not installed (npm ci in examples/miniprogram)');
    return;
  }
  execFileSync(process.execPath, [tsc, '-p', path.join(__dirname, 'tsconfig.json')], { encoding: 'utf8', stdio: 'pipe' });
  // And a wrong use is refused, so the check has teeth.
  const bad = path.join(__dirname, 'types', 'wrong.ts');
  fs.writeFileSync(bad, "import { streamChat } from 'ssechat-miniprogram';\nstreamChat({ url: 1, data: {} });\n");
  try {
    assert.throws(() => execFileSync(process.execPath, [tsc, '--strict', '--noEmit', '--module', 'NodeNext', '--moduleResolution', 'NodeNext', '--types', '', bad], { encoding: 'utf8', stdio: 'pipe' }));
  } finally {
    fs.unlinkSync(bad);
  }
});
