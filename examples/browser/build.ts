/**
 * Bundles the browser demo with esbuild into a static folder:
 * index.html, demo.js (hemnet's browser entry `dist/index.js` + TensorFlow.js)
 * and wasm/ (the tfjs-backend-wasm binaries, found through `wasmPaths`).
 *
 *   npx tsx examples/browser/build.ts [outDir]     (default tmp/browser-demo)
 *
 * Needs `npm run build` first: the demo imports the built package, as a user's
 * bundler would.
 */
import { copyFile, mkdir, readdir } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const HERE = dirname(fileURLToPath(import.meta.url));
const ROOT = resolve(HERE, '..', '..');
export const DEFAULT_DEMO_DIR = join(ROOT, 'tmp', 'browser-demo');

export interface BuiltDemo {
  outDir: string;
  /** Bytes of demo.js. */
  bundleBytes: number;
  wasmFiles: string[];
}

export async function buildBrowserDemo(outDir: string = DEFAULT_DEMO_DIR): Promise<BuiltDemo> {
  const entry = join(ROOT, 'dist', 'index.js');
  if (!existsSync(entry)) throw new Error(`buildBrowserDemo: ${entry} is missing; run 'npm run build' first`);
  await mkdir(join(outDir, 'wasm'), { recursive: true });
  const result = await build({
    entryPoints: [join(HERE, 'demo.ts')],
    outfile: join(outDir, 'demo.js'),
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: 'es2020',
    alias: { hemnet: entry },
    minify: true,
    sourcemap: true,
    metafile: true,
    logLevel: 'warning',
  });
  await copyFile(join(HERE, 'index.html'), join(outDir, 'index.html'));
  const wasmDir = dirname(createRequire(import.meta.url).resolve('@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm.wasm'));
  const wasmFiles = (await readdir(wasmDir)).filter((name) => name.endsWith('.wasm'));
  for (const name of wasmFiles) await copyFile(join(wasmDir, name), join(outDir, 'wasm', name));
  const output = result.metafile.outputs[Object.keys(result.metafile.outputs).find((path) => path.endsWith('demo.js')) ?? ''];
  return { outDir, bundleBytes: output?.bytes ?? 0, wasmFiles };
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const outDir = resolve(process.argv[2] ?? DEFAULT_DEMO_DIR);
  const built = await buildBrowserDemo(outDir);
  console.log(`browser demo in ${built.outDir}: demo.js ${(built.bundleBytes / 1e6).toFixed(2)} MB, wasm/${built.wasmFiles.join(', wasm/')}`);
}
