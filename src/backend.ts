/**
 * Backend choice for hemnet: one place that decides which TensorFlow.js
 * backend runs the math, installs hemnet's extra kernels on it, and reports
 * what is active.
 *
 * Order of preference for `'auto'`:
 * - Node: `tensorflow` (only if the user has `@tensorflow/tfjs-node`
 *   installed; never a dependency of ours) → `native` (hemnet's optional
 *   addon, when built: `npm run build:native`) → `wasm` → `cpu`.
 * - Browser: `webgpu` / `webgl` if registered → `wasm` → `cpu`.
 *
 * The environment variable `HEMNET_BACKEND` (Node) overrides `'auto'`.
 */
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import { installKernels } from './kernels/index.js';
import { setWasmDenormalFlush, wasmFlushBelow } from './kernels/denormals.js';
import { setWasmWinograd, setWasmWinogradTile } from './kernels/winogradTraining.js';
import { fusedMultiplyAddAvailable, resetFusedMultiplyAddProbe, setWasmFusedMultiplyAdd } from './kernels/fusedMultiplyAdd.js';

/** Backends hemnet knows how to select. */
export const BACKEND_NAMES = ['auto', 'native', 'wasm', 'cpu', 'tensorflow', 'webgl', 'webgpu'] as const;
export type BackendName = (typeof BACKEND_NAMES)[number];

export interface BackendOptions {
  /** Browser only: URL prefix (or per-file map) of the tfjs wasm binaries. */
  wasmPaths?: string;
}

export interface BackendInfo {
  /** Name of the active tfjs backend. */
  name: string;
  /** What was asked for. */
  requested: BackendName;
  /** True when running under Node.js. */
  isNode: boolean;
  /** tfjs-core version in use. */
  tfjsVersion: string;
  /** Why faster backends were passed over by `'auto'` (e.g. `native: the native addon is not built ...`). */
  notes: string[];
}

const isNode: boolean =
  typeof globalThis.process !== 'undefined' && typeof globalThis.process.versions?.node === 'string';

let lastRequested: BackendName = 'auto';

function environmentBackend(): string | undefined {
  if (!isNode) return undefined;
  const value = globalThis.process.env['HEMNET_BACKEND'];
  return value === undefined || value === '' ? undefined : value;
}

/** The addon function `flushDenormals` of an initialised native backend, when there is one. */
function nativeFlush(): ((mode: 1 | 0 | -1) => boolean) | null {
  const backend = tf.findBackend('native') as unknown as { addon?: { flushDenormals?: (mode: 1 | 0 | -1) => boolean } } | null;
  const flush = backend?.addon?.flushDenormals;
  return typeof flush === 'function' ? flush.bind(backend?.addon) : null;
}

// The setting lives in denormals.ts (on by default); the native addon reads the same variable when it loads.
if (isNode && globalThis.process.env['HEMNET_FLUSH_DENORMALS'] === '0') setWasmDenormalFlush(false);
// `HEMNET_WINOGRAD=0` starts with the wasm kernels' Winograd convolutions off (src/kernels/winogradTraining.ts), in workers too.
if (isNode && globalThis.process.env['HEMNET_WINOGRAD'] === '0') setWasmWinograd(false);
// `HEMNET_WASM_FMA=0` keeps the block kernels' separate multiply and add (src/kernels/fusedMultiplyAdd.ts), in workers too.
if (isNode && globalThis.process.env['HEMNET_WASM_FMA'] === '0') setWasmFusedMultiplyAdd(false);
// `HEMNET_WINOGRAD_TILE=2` keeps the training kernels at F(2×2, 3×3) (default: F(4×4, 3×3) where the map allows it).
if (isNode && globalThis.process.env['HEMNET_WINOGRAD_TILE'] === '2') setWasmWinogradTile(2);

/**
 * Whether subnormal floats (nonzero |x| < 1.18e-38) are flushed to zero,
 * as TensorFlow's CPU runtime does; on by default (`HEMNET_FLUSH_DENORMALS=0`
 * in Node starts with it off). A subnormal costs up to ~190x per operation
 * (bench/denormals.ts), and trained models grow them: weights whose only
 * gradient is the weight decay shrink into that range (docs/performance.md,
 * "Denormals"). On `native` the addon's kernels run with the CPU's
 * flush-to-zero and denormals-are-zero modes; on `wasm`, where WebAssembly
 * cannot set them, hemnet's fused Adam step and batch-norm moving averages
 * store subnormal results as +0, which removes where they start
 * (src/kernels/denormals.ts). Other backends are untouched.
 */
export function setFlushDenormals(on: boolean): void {
  setWasmDenormalFlush(on);
  nativeFlush()?.(on ? 1 : 0);
}

/** Whether subnormals are flushed: by the native backend when it is the active one, else by hemnet's wasm training kernels. */
export function flushesDenormals(): boolean {
  const native = tf.getBackend() === 'native' ? nativeFlush() : null;
  return native !== null ? native(-1) : wasmFlushBelow() > 0;
}

/** Validates a backend name, with the message style of the whole library. */
export function parseBackendName(value: string, source = 'backend'): BackendName {
  if ((BACKEND_NAMES as readonly string[]).includes(value)) return value as BackendName;
  throw new Error(
    `setBackend: '${source}' must be one of ${BACKEND_NAMES.join(', ')}, received '${value}'`,
  );
}

async function tryTensorflowNode(): Promise<boolean> {
  if (!isNode) return false;
  // The module name is held in a variable so bundlers and tsc do not try to
  // resolve a package we never depend on.
  const moduleName = '@tensorflow/tfjs-node';
  try {
    await import(/* @vite-ignore */ moduleName);
  } catch {
    return false;
  }
  return tf.engine().registryFactory['tensorflow'] !== undefined;
}

let lastNotes: string[] = [];
let nativeReason = '';

/** Registers hemnet's `native` backend (Node only) when its addon loads; records why not otherwise. */
async function tryNative(): Promise<boolean> {
  if (!isNode) {
    nativeReason = 'the native backend runs in Node only';
    return false;
  }
  if (tf.engine().registryFactory['native'] !== undefined) return true;
  // A variable specifier: bundlers for the browser leave the Node-only module out.
  const moduleName = './backends/native/index.js';
  try {
    const native = (await import(/* @vite-ignore */ moduleName)) as { registerNativeBackend(): { available: boolean; reason?: string } };
    const status = native.registerNativeBackend();
    if (!status.available) nativeReason = status.reason ?? 'unavailable';
    return status.available;
  } catch (error) {
    nativeReason = `the native backend failed to load: ${(error as Error).message}`;
    return false;
  }
}

/**
 * The backends that can start here, fastest first (Node: `native` when its
 * addon is built, `wasm`, `cpu`; `tensorflow` when tfjs-node is installed).
 * Registers `native` as a side effect when its addon loads.
 */
export async function availableBackends(): Promise<string[]> {
  const candidates = backendPreference();
  const found: string[] = [];
  for (const name of candidates) {
    if (name === 'tensorflow' && !(await tryTensorflowNode())) continue;
    if (name === 'native' && !(await tryNative())) continue;
    if (tf.engine().registryFactory[name] !== undefined) found.push(name);
  }
  return found;
}

let relaxedSimdAsked = false;

/**
 * Node 20's V8 (11.3) runs relaxed SIMD, the fused multiply-add of the wasm
 * kernels (fusedMultiplyAdd.ts), only behind `--experimental-wasm-relaxed-simd`;
 * V8 ≥ 11.4 (Node 22, Chrome 114) ships it. Sets that flag once, in Node,
 * where the engine does not validate relaxed SIMD already and
 * `HEMNET_WASM_FMA` is not 0. The flag is process-wide (worker threads too)
 * and applies to modules compiled after it.
 */
async function enableRelaxedSimd(): Promise<void> {
  if (!isNode || relaxedSimdAsked || globalThis.process.env['HEMNET_WASM_FMA'] === '0') return;
  relaxedSimdAsked = true;
  if (fusedMultiplyAddAvailable()) return;
  // A variable specifier, as for tfjs-node: browser bundlers leave the Node built-in out.
  const moduleName = 'node:v8';
  try {
    const v8 = (await import(/* @vite-ignore */ moduleName)) as { setFlagsFromString(flags: string): void };
    v8.setFlagsFromString('--experimental-wasm-relaxed-simd');
  } catch {
    return;
  }
  resetFusedMultiplyAddProbe();
}

async function activate(name: string, options: BackendOptions): Promise<boolean> {
  if (name === 'tensorflow' && !(await tryTensorflowNode())) return false;
  if (name === 'native' && !(await tryNative())) return false;
  if (name === 'wasm' && options.wasmPaths !== undefined) setWasmPaths(options.wasmPaths);
  if (name === 'wasm') await enableRelaxedSimd();
  if (tf.engine().registryFactory[name] === undefined) return false;
  try {
    const ok = await tf.setBackend(name);
    if (!ok) return false;
    await tf.ready();
  } catch {
    return false;
  }
  installKernels(name);
  if (name === 'native') nativeFlush()?.(wasmFlushBelow() > 0 ? 1 : 0);
  return true;
}

/**
 * Selects and initialises a backend. `'auto'` (default) honours
 * `HEMNET_BACKEND`, then picks the fastest available one. Asking for a
 * specific backend that cannot start is an error, never a silent fallback.
 */
export async function setBackend(
  requested: BackendName | string = 'auto',
  options: BackendOptions = {},
): Promise<BackendInfo> {
  let name = parseBackendName(requested);
  if (name === 'auto') {
    const fromEnv = environmentBackend();
    if (fromEnv !== undefined) name = parseBackendName(fromEnv, 'HEMNET_BACKEND');
  }
  lastRequested = name;
  lastNotes = [];
  if (name !== 'auto') {
    if (!(await activate(name, options))) {
      const hint =
        name === 'tensorflow'
          ? ' (install @tensorflow/tfjs-node yourself; hemnet does not depend on it)'
          : name === 'native'
            ? ` (${nativeReason})`
            : '';
      throw new Error(`setBackend: backend '${name}' could not be initialised${hint}`);
    }
    return backendInfo();
  }
  for (const candidate of backendPreference()) {
    if (await activate(candidate, options)) return backendInfo();
    if (candidate === 'native') lastNotes.push(`native: ${nativeReason}`);
  }
  throw new Error('setBackend: no TensorFlow.js backend could be initialised');
}

/** Backends `'auto'` tries, fastest first, on this platform. */
export function backendPreference(): string[] {
  return isNode ? ['tensorflow', 'native', 'wasm', 'cpu'] : ['webgpu', 'webgl', 'wasm', 'cpu'];
}

/** Reports the active backend. */
export function backendInfo(): BackendInfo {
  return { name: tf.getBackend(), requested: lastRequested, isNode, tfjsVersion: tf.version_core, notes: [...lastNotes] };
}
