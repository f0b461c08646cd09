#!/usr/bin/env node
// Builds hemnet's optional native backend (native/) from source with the
// node-gyp that npm ships, against the Node headers installed next to this
// node binary (so node-gyp never downloads headers) and Debian's oneDNN and
// OpenBLAS. Run: npm run build:native
// Needs: apt-get install -y libdnnl-dev libopenblas-dev build-essential
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const fail = (message) => {
  console.error(`build:native: ${message}`);
  process.exit(1);
};

// Node headers: <prefix>/include/node next to <prefix>/bin/node.
const prefix = resolve(dirname(process.execPath), '..');
const candidates = [prefix, '/usr', '/usr/local'];
const nodedir = candidates.find((dir) => existsSync(join(dir, 'include', 'node', 'node_api.h')));
if (nodedir === undefined) {
  fail(`no Node headers found (looked for include/node/node_api.h under ${candidates.join(', ')}); install your distribution's Node development headers`);
}
for (const [header, pkg] of [
  ['/usr/include/dnnl.hpp', 'libdnnl-dev'],
  ['/usr/include/x86_64-linux-gnu/cblas.h', 'libopenblas-dev'],
]) {
  if (!existsSync(header)) fail(`${header} is missing: apt-get install -y ${pkg} build-essential`);
}

// node-gyp: the copy inside npm (npm ships it), else one on PATH.
let gyp;
const npmDirs = [join(prefix, 'lib', 'node_modules', 'npm'), '/usr/lib/node_modules/npm', '/usr/share/nodejs/npm'];
for (const dir of npmDirs) {
  const script = join(dir, 'node_modules', 'node-gyp', 'bin', 'node-gyp.js');
  if (existsSync(script)) {
    gyp = [process.execPath, script];
    break;
  }
}
if (gyp === undefined) {
  try {
    gyp = [process.execPath, createRequire(import.meta.url).resolve('node-gyp/bin/node-gyp.js')];
  } catch {
    gyp = ['node-gyp'];
  }
}
const [command, ...pre] = gyp;
const args = [...pre, 'rebuild', '--directory', join(root, 'native'), `--nodedir=${nodedir}`, '--jobs=2'];
console.log(`build:native: ${[command, ...args].join(' ')}`);
const result = spawnSync(command, args, { stdio: 'inherit', env: { ...process.env, npm_config_offline: 'true' } });
if (result.status !== 0) fail(`node-gyp failed (exit ${result.status ?? result.signal})`);
console.log(`build:native: built ${join('native', 'build', 'Release', 'hemnet_native.node')}`);
