/**
 * A small ONNX graph builder: nodes, initializers and graph inputs/outputs
 * collected as plain data, then encoded to the ONNX protobuf wire format with
 * protobufjs and the descriptor of `schema.ts`. Platform-neutral.
 */
import protobuf from 'protobufjs/light.js';
import { ONNX_ATTRIBUTE_TYPE, ONNX_DATA_TYPE, ONNX_SCHEMA } from './schema.js';

/** An attribute value with its ONNX type made explicit (numbers alone cannot tell INT from FLOAT). */
export type OnnxAttribute =
  | { kind: 'int'; value: number }
  | { kind: 'float'; value: number }
  | { kind: 'ints'; value: readonly number[] }
  | { kind: 'floats'; value: readonly number[] }
  | { kind: 'string'; value: string };

export const attr = {
  int: (value: number): OnnxAttribute => ({ kind: 'int', value }),
  float: (value: number): OnnxAttribute => ({ kind: 'float', value }),
  ints: (value: readonly number[]): OnnxAttribute => ({ kind: 'ints', value }),
  floats: (value: readonly number[]): OnnxAttribute => ({ kind: 'floats', value }),
  string: (value: string): OnnxAttribute => ({ kind: 'string', value }),
};

/** A graph input or output: float32 with dims; a string dim is symbolic (e.g. 'batch'). */
export interface OnnxValueInfo {
  name: string;
  dims: readonly (number | string)[];
}

interface NodeRecord {
  opType: string;
  name: string;
  inputs: string[];
  outputs: string[];
  attributes: Record<string, OnnxAttribute>;
}

interface InitializerRecord {
  name: string;
  dims: number[];
  data: Float32Array | BigInt64Array;
}

export interface EncodeOptions {
  /** Default-domain opset version. */
  opset: number;
  /** ONNX IR version (8 goes with opsets up to 17). */
  irVersion: number;
  producerName: string;
  producerVersion: string;
  graphName: string;
  docString?: string;
  /** `metadata_props` key/value pairs (e.g. class names, normalisation). */
  metadata?: Readonly<Record<string, string>>;
}

let cachedRoot: protobuf.Root | null = null;
function modelType(): protobuf.Type {
  cachedRoot ??= protobuf.Root.fromJSON(ONNX_SCHEMA);
  return cachedRoot.lookupType('onnx.ModelProto');
}

/** ONNX's `raw_data` is little-endian; typed arrays use the platform's order, so check it once. */
const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

function rawBytes(data: Float32Array | BigInt64Array): Uint8Array {
  if (!LITTLE_ENDIAN) throw new Error('OnnxGraph: big-endian platforms are not supported (ONNX raw_data is little-endian)');
  return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
}

function attributeMessage(name: string, a: OnnxAttribute): Record<string, unknown> {
  switch (a.kind) {
    case 'int':
      return { name, type: ONNX_ATTRIBUTE_TYPE.INT, i: a.value };
    case 'float':
      return { name, type: ONNX_ATTRIBUTE_TYPE.FLOAT, f: a.value };
    case 'ints':
      return { name, type: ONNX_ATTRIBUTE_TYPE.INTS, ints: [...a.value] };
    case 'floats':
      return { name, type: ONNX_ATTRIBUTE_TYPE.FLOATS, floats: [...a.value] };
    case 'string':
      return { name, type: ONNX_ATTRIBUTE_TYPE.STRING, s: new TextEncoder().encode(a.value) };
  }
}

function valueInfoMessage(info: OnnxValueInfo): Record<string, unknown> {
  return {
    name: info.name,
    type: {
      tensorType: {
        elemType: ONNX_DATA_TYPE.FLOAT,
        shape: { dim: info.dims.map((d) => (typeof d === 'string' ? { dimParam: d } : { dimValue: d })) },
      },
    },
  };
}

/** Collects an ONNX graph; value names are made unique on request. */
export class OnnxGraph {
  private readonly nodes: NodeRecord[] = [];
  private readonly initializers: InitializerRecord[] = [];
  private readonly inputs: OnnxValueInfo[] = [];
  private readonly outputs: OnnxValueInfo[] = [];
  private readonly used = new Set<string>();
  private readonly constants = new Map<string, string>();

  /** A name not used yet, derived from `base` (ONNX names must be unique in the graph). */
  uniqueName(base: string): string {
    let name = base;
    for (let i = 1; this.used.has(name); i++) name = `${base}_${i}`;
    this.used.add(name);
    return name;
  }

  addInput(info: OnnxValueInfo): string {
    if (this.used.has(info.name)) throw new Error(`OnnxGraph.addInput: name '${info.name}' is already used`);
    this.used.add(info.name);
    this.inputs.push(info);
    return info.name;
  }

  /** Declares `value` (an existing value name) as a graph output under `name`. */
  addOutput(value: string, info: OnnxValueInfo): void {
    const name = value === info.name ? value : this.node('Identity', [value], {}, info.name);
    if (name !== info.name) throw new Error(`OnnxGraph.addOutput: output name '${info.name}' is already used`);
    this.outputs.push(info);
  }

  /** A float32 (or int64) initializer; returns its name. */
  initializer(base: string, dims: readonly number[], data: Float32Array | BigInt64Array): string {
    const size = dims.reduce((a, b) => a * b, 1);
    if (size !== data.length) {
      throw new Error(`OnnxGraph.initializer: '${base}' has dims [${dims.join(', ')}] (${size} values) but ${data.length} values`);
    }
    const name = this.uniqueName(base);
    this.initializers.push({ name, dims: [...dims], data });
    return name;
  }

  /** A shared scalar or vector constant (float32 or int64), created once per value. */
  constant(values: readonly number[], type: 'float' | 'int64', dims: readonly number[] = [values.length]): string {
    const key = `${type}:${dims.join('x')}:${values.join(',')}`;
    const known = this.constants.get(key);
    if (known !== undefined) return known;
    const data = type === 'float' ? Float32Array.from(values) : BigInt64Array.from(values.map((v) => BigInt(v)));
    const name = this.initializer(`const_${type}_${this.constants.size}`, dims, data);
    this.constants.set(key, name);
    return name;
  }

  /** Adds a node with one output; returns the output's name (derived from `outputBase`). */
  node(opType: string, inputs: readonly string[], attributes: Record<string, OnnxAttribute> = {}, outputBase?: string): string {
    const output = this.uniqueName(outputBase ?? opType.toLowerCase());
    this.nodes.push({ opType, name: `${output}/${opType}`, inputs: [...inputs], outputs: [output], attributes });
    return output;
  }

  /** Counts per op type (for reports and tests). */
  opCounts(): Record<string, number> {
    const counts: Record<string, number> = {};
    for (const n of this.nodes) counts[n.opType] = (counts[n.opType] ?? 0) + 1;
    return counts;
  }

  /** Number of float parameters stored in initializers. */
  parameterCount(): number {
    return this.initializers.reduce((sum, i) => sum + (i.data instanceof Float32Array ? i.data.length : 0), 0);
  }

  /** The ModelProto as protobuf wire bytes. */
  encode(options: EncodeOptions): Uint8Array {
    const type = modelType();
    const message = {
      irVersion: options.irVersion,
      opsetImport: [{ domain: '', version: options.opset }],
      producerName: options.producerName,
      producerVersion: options.producerVersion,
      docString: options.docString ?? '',
      graph: {
        name: options.graphName,
        node: this.nodes.map((n) => ({
          input: n.inputs,
          output: n.outputs,
          name: n.name,
          opType: n.opType,
          attribute: Object.entries(n.attributes).map(([name, a]) => attributeMessage(name, a)),
        })),
        initializer: this.initializers.map((i) => ({
          name: i.name,
          dims: i.dims,
          dataType: i.data instanceof Float32Array ? ONNX_DATA_TYPE.FLOAT : ONNX_DATA_TYPE.INT64,
          rawData: rawBytes(i.data),
        })),
        input: this.inputs.map(valueInfoMessage),
        output: this.outputs.map(valueInfoMessage),
      },
      metadataProps: Object.entries(options.metadata ?? {}).map(([key, value]) => ({ key, value })),
    };
    const error = type.verify(message);
    if (error !== null) throw new Error(`OnnxGraph.encode: invalid ModelProto: ${error}`);
    return type.encode(type.fromObject(message)).finish();
  }
}
