import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { encodeSafetensors, parseSafetensors } from './safetensors.js';

/** A safetensors file from a header object and raw data bytes (the header padded as the reference writer does). */
function rawFile(header: unknown, data: Uint8Array, headerText?: string): Uint8Array {
  let text = headerText ?? JSON.stringify(header);
  text += ' '.repeat((8 - (text.length % 8)) % 8);
  const h = new TextEncoder().encode(text);
  const out = new Uint8Array(8 + h.length + data.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(h.length), true);
  out.set(h, 8);
  out.set(data, 8 + h.length);
  return out;
}

function bytesOf(kind: 'u16' | 'f32' | 'i64' | 'f64', values: (number | bigint)[]): Uint8Array {
  const size = { u16: 2, f32: 4, i64: 8, f64: 8 }[kind];
  const out = new Uint8Array(values.length * size);
  const view = new DataView(out.buffer);
  values.forEach((v, i) => {
    if (kind === 'u16') view.setUint16(i * 2, Number(v), true);
    else if (kind === 'f32') view.setFloat32(i * 4, Number(v), true);
    else if (kind === 'f64') view.setFloat64(i * 8, Number(v), true);
    else view.setBigInt64(i * 8, BigInt(v), true);
  });
  return out;
}

describe('parseSafetensors', () => {
  it('round-trips encodeSafetensors (F32, shapes, metadata, a scalar and an empty tensor)', () => {
    const bytes = encodeSafetensors(
      {
        'layer1.0.conv1.weight': { shape: [2, 1, 1, 3], data: new Float32Array([1, -2, 3.5, 4, 5e-8, -6e7]) },
        scalar: { shape: [], data: new Float32Array([7]) },
        empty: { shape: [0, 4], data: new Float32Array(0) },
      },
      { format: 'pt' },
    );
    assert.equal((bytes.byteLength - 8) % 4, 0);
    const file = parseSafetensors(bytes, 'round.safetensors');
    assert.deepEqual([...file.tensors.keys()], ['layer1.0.conv1.weight', 'scalar', 'empty']);
    const conv = file.tensors.get('layer1.0.conv1.weight');
    assert.deepEqual(conv?.shape, [2, 1, 1, 3]);
    assert.equal(conv?.dtype, 'F32');
    assert.deepEqual(Array.from(conv?.data ?? []), Array.from(new Float32Array([1, -2, 3.5, 4, 5e-8, -6e7])));
    assert.deepEqual(file.tensors.get('scalar')?.shape, []);
    assert.deepEqual(Array.from(file.tensors.get('scalar')?.data ?? []), [7]);
    assert.equal(file.tensors.get('empty')?.data.length, 0);
    assert.deepEqual(file.metadata, { format: 'pt' });
    // An ArrayBuffer and a Uint8Array view at an offset parse the same.
    const shifted = new Uint8Array(bytes.byteLength + 3);
    shifted.set(bytes, 3);
    assert.deepEqual([...parseSafetensors(shifted.subarray(3)).tensors.keys()], ['layer1.0.conv1.weight', 'scalar', 'empty']);
    assert.equal(parseSafetensors(bytes.slice().buffer).tensors.size, 3);
  });

  it('converts F16, BF16, F64 and I64 to float32 (hand-computed bit patterns)', () => {
    // F16: 1.0 = 0x3c00, −2.5 = 0xc100, 65504 = 0x7bff, smallest subnormal 2^-24 = 0x0001, +Inf = 0x7c00.
    const f16 = bytesOf('u16', [0x3c00, 0xc100, 0x7bff, 0x0001, 0x7c00]);
    // BF16: 1.0 = 0x3f80, −0.15625 = 0xbe20, 3.0e38 ≈ 0x7f62 (= 0x7f620000 as float32).
    const bf16 = bytesOf('u16', [0x3f80, 0xbe20, 0x7f62]);
    const f64 = bytesOf('f64', [0.1, -1e-3]);
    const i64 = bytesOf('i64', [12345n, -7n]);
    const data = new Uint8Array([...f16, ...bf16, ...f64, ...i64]);
    let o = 0;
    const span = (n: number): [number, number] => [o, (o += n)];
    const header = {
      h: { dtype: 'F16', shape: [5], data_offsets: span(10) },
      b: { dtype: 'BF16', shape: [3], data_offsets: span(6) },
      d: { dtype: 'F64', shape: [2], data_offsets: span(16) },
      n: { dtype: 'I64', shape: [2], data_offsets: span(16) },
    };
    const file = parseSafetensors(rawFile(header, data), 'dtypes.safetensors');
    assert.deepEqual(Array.from(file.tensors.get('h')?.data ?? []), [1, -2.5, 65504, 2 ** -24, Infinity]);
    const asFloat = new Float32Array(new Uint32Array([0x7f620000]).buffer)[0] as number;
    assert.deepEqual(Array.from(file.tensors.get('b')?.data ?? []), [1, -0.15625, asFloat]);
    assert.deepEqual(Array.from(file.tensors.get('d')?.data ?? []), [Math.fround(0.1), Math.fround(-1e-3)]);
    assert.deepEqual(Array.from(file.tensors.get('n')?.data ?? []), [12345, -7]);
  });

  it('rejects truncated files with the file named', () => {
    const good = encodeSafetensors({ w: { shape: [4], data: new Float32Array([1, 2, 3, 4]) } });
    assert.throws(() => parseSafetensors(good.subarray(0, 5), 'cut.safetensors'), /^Error: parseSafetensors: 'cut.safetensors' is 5 bytes long, too short for the 8-byte header length of a safetensors file$/);
    assert.throws(
      () => parseSafetensors(good.subarray(0, 20), 'cut.safetensors'),
      /^Error: parseSafetensors: 'cut.safetensors' declares a \d+-byte header but only 12 bytes follow the length \(truncated, or not a safetensors file\)$/,
    );
    assert.throws(
      () => parseSafetensors(good.subarray(0, good.byteLength - 4), 'cut.safetensors'),
      /^Error: parseSafetensors: 'cut.safetensors' tensor 'w': data_offsets \[0, 16\] lie outside the 12-byte data section \(truncated file\?\)$/,
    );
  });

  it('rejects bad headers', () => {
    const data = new Uint8Array(4);
    assert.throws(() => parseSafetensors(rawFile(null, data, '[1, 2]'), 'a.st'), /^Error: parseSafetensors: 'a.st' has no JSON object header \(the header must start with '\{'\)$/);
    assert.throws(() => parseSafetensors(rawFile(null, data, '{"w": {"dtype": "F32",'), 'a.st'), /^Error: parseSafetensors: 'a.st' has a header that is not valid UTF-8 JSON: /);
    // A pickle (.pth) file read as safetensors: its first 8 bytes make a huge length.
    const pickle = new Uint8Array([0x80, 0x02, 0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20]);
    assert.throws(() => parseSafetensors(pickle, 'model.pth'), /^Error: parseSafetensors: 'model.pth' declares a \d+-byte header but only 2 bytes follow/);
    assert.throws(
      () => parseSafetensors(rawFile({ w: { dtype: 'F32', shape: [1], data_offsets: [0, 4] }, __metadata__: { n: 3 } }, data), 'a.st'),
      /^Error: parseSafetensors: 'a.st' has '__metadata__' key 'n' that is not a string, received 3$/,
    );
    assert.throws(
      () => parseSafetensors(rawFile({ w: { dtype: 'F32', shape: [1, -1], data_offsets: [0, 4] } }, data), 'a.st'),
      /^Error: parseSafetensors: 'a.st' tensor 'w': shape must be an array of non-negative integers, received \[1,-1\]$/,
    );
    assert.throws(
      () => parseSafetensors(rawFile({ w: { dtype: 'F32', shape: [1], data_offsets: [0] } }, data), 'a.st'),
      /^Error: parseSafetensors: 'a.st' tensor 'w': data_offsets must be \[begin, end\] non-negative integers, received \[0\]$/,
    );
    assert.throws(
      () => parseSafetensors(rawFile({ w: { dtype: 'F32', shape: [2], data_offsets: [0, 4] } }, data), 'a.st'),
      /^Error: parseSafetensors: 'a.st' tensor 'w': data_offsets span 4 bytes but shape \[2\] of F32 needs 8$/,
    );
    assert.throws(
      () => parseSafetensors(rawFile({ a: { dtype: 'F16', shape: [2], data_offsets: [0, 4] }, b: { dtype: 'F16', shape: [1], data_offsets: [2, 4] } }, data), 'a.st'),
      /^Error: parseSafetensors: 'a.st' tensor 'b': data overlaps tensor 'a'$/,
    );
  });

  it('rejects a dtype it cannot convert, naming the tensor', () => {
    const data = new Uint8Array(8);
    assert.throws(
      () => parseSafetensors(rawFile({ 'layer1.0.bn1.weight': { dtype: 'C64', shape: [1], data_offsets: [0, 8] } }, data), 'complex.safetensors'),
      /^Error: parseSafetensors: 'complex.safetensors' tensor 'layer1.0.bn1.weight': dtype must be one of F64, F32, F16, BF16, I64, I32, I16, I8, U8, BOOL, received "C64"$/,
    );
    assert.throws(() => parseSafetensors('abc' as unknown as Uint8Array), /^Error: parseSafetensors: 'bytes' must be an ArrayBuffer or a Uint8Array, received string$/);
  });
});
