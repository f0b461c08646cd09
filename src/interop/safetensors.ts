/**
 * The safetensors format (Hugging Face), parsed from bytes in platform-neutral
 * code: an unsigned 64-bit little-endian header length N, N bytes of UTF-8
 * JSON `{ name: { dtype, shape, data_offsets: [begin, end] }, __metadata__?: {…} }`,
 * then the raw little-endian tensor data; offsets are relative to the data
 * section. Every tensor is returned as float32 (F32, F16, BF16, F64 and the
 * integer/bool dtypes convert; integers above 2^24 lose precision, which
 * only matters for counters like `num_batches_tracked`).
 *
 * The Node file wrapper is `readSafetensorsFile` in `hemnet/node`.
 */

/** Dtypes this reader converts to float32, with their byte sizes. */
export const SAFETENSORS_DTYPES: Readonly<Record<string, number>> = {
  F64: 8,
  F32: 4,
  F16: 2,
  BF16: 2,
  I64: 8,
  I32: 4,
  I16: 2,
  I8: 1,
  U8: 1,
  BOOL: 1,
};

/** Largest header accepted (the reference implementation's limit). */
export const SAFETENSORS_MAX_HEADER = 100_000_000;

export interface TorchTensor {
  name: string;
  /** The dtype stored in the file ('F32', 'F16', 'BF16', …). */
  dtype: string;
  /** Shape as stored (PyTorch order, e.g. OIHW for a conv weight). */
  shape: number[];
  /** Values converted to float32, row-major. */
  data: Float32Array;
}

export interface SafetensorsFile {
  /** Tensors by name, in header order. */
  tensors: Map<string, TorchTensor>;
  /** The `__metadata__` string map (empty when absent). */
  metadata: Record<string, string>;
}

const FN = 'parseSafetensors';

function fail(source: string, message: string): never {
  throw new Error(`${FN}: '${source}' ${message}`);
}

const LITTLE_ENDIAN_HOST = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** IEEE half → float. */
function halfToFloat(bits: number): number {
  const sign = bits & 0x8000 ? -1 : 1;
  const exponent = (bits >> 10) & 0x1f;
  const fraction = bits & 0x3ff;
  if (exponent === 0) return sign * fraction * 2 ** -24;
  if (exponent === 0x1f) return fraction === 0 ? sign * Infinity : NaN;
  return sign * (1 + fraction / 1024) * 2 ** (exponent - 15);
}

function convert(dtype: string, bytes: Uint8Array, count: number): Float32Array {
  // F32 on a little-endian host: one copy (the slice realigns to 4 bytes), no per-element reads.
  if (dtype === 'F32' && LITTLE_ENDIAN_HOST) return new Float32Array(bytes.slice().buffer, 0, count);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out = new Float32Array(count);
  switch (dtype) {
    case 'F32':
      for (let i = 0; i < count; i++) out[i] = view.getFloat32(4 * i, true);
      break;
    case 'F64':
      for (let i = 0; i < count; i++) out[i] = view.getFloat64(8 * i, true);
      break;
    case 'F16':
      for (let i = 0; i < count; i++) out[i] = halfToFloat(view.getUint16(2 * i, true));
      break;
    case 'BF16': {
      // bfloat16 is the upper half of a float32.
      const bits = new Uint32Array(1);
      const asFloat = new Float32Array(bits.buffer);
      for (let i = 0; i < count; i++) {
        bits[0] = view.getUint16(2 * i, true) << 16;
        out[i] = asFloat[0] as number;
      }
      break;
    }
    case 'I64':
      for (let i = 0; i < count; i++) out[i] = Number(view.getBigInt64(8 * i, true));
      break;
    case 'I32':
      for (let i = 0; i < count; i++) out[i] = view.getInt32(4 * i, true);
      break;
    case 'I16':
      for (let i = 0; i < count; i++) out[i] = view.getInt16(2 * i, true);
      break;
    case 'I8':
      for (let i = 0; i < count; i++) out[i] = view.getInt8(i);
      break;
    case 'U8':
    case 'BOOL':
      for (let i = 0; i < count; i++) out[i] = view.getUint8(i);
      break;
    default:
      throw new Error(`convert: unreachable dtype ${dtype}`);
  }
  return out;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * Parses a safetensors file from its bytes. `source` names the file in
 * error messages. Validates the header length, the JSON, every entry's
 * dtype, shape and offsets (inside the data section, matching the shape's
 * byte size, not overlapping); errors name the file and the tensor.
 */
export function parseSafetensors(bytes: ArrayBuffer | Uint8Array, source = '<buffer>'): SafetensorsFile {
  if (!(bytes instanceof ArrayBuffer) && !(bytes instanceof Uint8Array)) {
    throw new Error(`${FN}: 'bytes' must be an ArrayBuffer or a Uint8Array, received ${typeof bytes}`);
  }
  const all = bytes instanceof Uint8Array ? bytes : new Uint8Array(bytes);
  if (all.byteLength < 8) fail(source, `is ${all.byteLength} bytes long, too short for the 8-byte header length of a safetensors file`);
  const headerLength = new DataView(all.buffer, all.byteOffset, 8).getBigUint64(0, true);
  if (headerLength > BigInt(all.byteLength - 8)) {
    fail(source, `declares a ${headerLength}-byte header but only ${all.byteLength - 8} bytes follow the length (truncated, or not a safetensors file)`);
  }
  if (headerLength > BigInt(SAFETENSORS_MAX_HEADER)) fail(source, `declares a ${headerLength}-byte header, more than the ${SAFETENSORS_MAX_HEADER}-byte limit`);
  const n = Number(headerLength);
  if (n < 2 || all[8] !== 0x7b /* '{' */) fail(source, `has no JSON object header (the header must start with '{')`);
  let header: unknown;
  try {
    header = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(all.subarray(8, 8 + n)));
  } catch (error) {
    fail(source, `has a header that is not valid UTF-8 JSON: ${(error as Error).message}`);
  }
  if (!isRecord(header)) fail(source, 'has a header that is not a JSON object');
  const data = all.subarray(8 + n);
  const metadata: Record<string, string> = {};
  const tensors = new Map<string, TorchTensor>();
  const spans: [number, number, string][] = [];
  for (const [name, entry] of Object.entries(header)) {
    if (name === '__metadata__') {
      if (!isRecord(entry)) fail(source, `has a '__metadata__' that is not an object of strings`);
      for (const [key, value] of Object.entries(entry)) {
        if (typeof value !== 'string') fail(source, `has '__metadata__' key '${key}' that is not a string, received ${JSON.stringify(value)}`);
        metadata[key] = value;
      }
      continue;
    }
    const where = `tensor '${name}'`;
    if (!isRecord(entry)) fail(source, `${where}: entry must be an object with dtype, shape and data_offsets, received ${JSON.stringify(entry)}`);
    const { dtype, shape, data_offsets: offsets } = entry;
    if (typeof dtype !== 'string' || !Object.hasOwn(SAFETENSORS_DTYPES, dtype)) {
      fail(source, `${where}: dtype must be one of ${Object.keys(SAFETENSORS_DTYPES).join(', ')}, received ${JSON.stringify(dtype)}`);
    }
    if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && (d as number) >= 0)) {
      fail(source, `${where}: shape must be an array of non-negative integers, received ${JSON.stringify(shape)}`);
    }
    if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every((o) => Number.isSafeInteger(o) && (o as number) >= 0)) {
      fail(source, `${where}: data_offsets must be [begin, end] non-negative integers, received ${JSON.stringify(offsets)}`);
    }
    const [begin, end] = offsets as [number, number];
    const dims = shape as number[];
    const count = dims.reduce((a, b) => a * b, 1);
    const itemSize = SAFETENSORS_DTYPES[dtype] as number;
    if (end < begin || end > data.byteLength) {
      fail(source, `${where}: data_offsets [${begin}, ${end}] lie outside the ${data.byteLength}-byte data section (truncated file?)`);
    }
    if (end - begin !== count * itemSize) {
      fail(source, `${where}: data_offsets span ${end - begin} bytes but shape [${dims.join(', ')}] of ${dtype} needs ${count * itemSize}`);
    }
    spans.push([begin, end, name]);
    tensors.set(name, { name, dtype, shape: [...dims], data: convert(dtype, data.subarray(begin, end), count) });
  }
  spans.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  for (let i = 1; i < spans.length; i++) {
    const [previousBegin, previousEnd, previous] = spans[i - 1] as [number, number, string];
    const [begin, , name] = spans[i] as [number, number, string];
    if (begin < previousEnd && previousEnd > previousBegin) fail(source, `tensor '${name}': data overlaps tensor '${previous}'`);
  }
  return { tensors, metadata };
}

export interface EncodableTensor {
  shape: readonly number[];
  data: Float32Array;
}

/**
 * Writes float32 tensors as a safetensors file (dtype F32), e.g. for tests or
 * to hand weights back to PyTorch. The header is padded to a multiple of 8.
 */
export function encodeSafetensors(tensors: ReadonlyMap<string, EncodableTensor> | Record<string, EncodableTensor>, metadata: Record<string, string> = {}): Uint8Array {
  const entries = tensors instanceof Map ? [...tensors.entries()] : Object.entries(tensors);
  const header: Record<string, unknown> = {};
  let offset = 0;
  for (const [name, tensor] of entries) {
    const count = tensor.shape.reduce((a: number, b: number) => a * b, 1);
    if (count !== tensor.data.length) {
      throw new Error(`encodeSafetensors: tensor '${name}' has shape [${tensor.shape.join(', ')}] (${count} values) but ${tensor.data.length} values`);
    }
    header[name] = { dtype: 'F32', shape: [...tensor.shape], data_offsets: [offset, offset + 4 * count] };
    offset += 4 * count;
  }
  if (Object.keys(metadata).length > 0) header['__metadata__'] = metadata;
  let text = JSON.stringify(header);
  text += ' '.repeat((8 - (new TextEncoder().encode(text).byteLength % 8)) % 8);
  const headerBytes = new TextEncoder().encode(text);
  const out = new Uint8Array(8 + headerBytes.byteLength + offset);
  const view = new DataView(out.buffer);
  view.setBigUint64(0, BigInt(headerBytes.byteLength), true);
  out.set(headerBytes, 8);
  let position = 8 + headerBytes.byteLength;
  for (const [, tensor] of entries) {
    for (const value of tensor.data) {
      view.setFloat32(position, value, true);
      position += 4;
    }
  }
  return out;
}
