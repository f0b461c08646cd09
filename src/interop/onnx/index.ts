/** ONNX out: the exporter and the graph builder it writes with. Platform-neutral. */
export { exportOnnx, ONNX_DEFAULT_OPSET, ONNX_OPSETS } from './export.js';
export type { OnnxExport, OnnxExportOptions, OnnxNormalization } from './export.js';
export { OnnxGraph, attr as onnxAttr } from './graph.js';
export type { OnnxAttribute, OnnxValueInfo, EncodeOptions as OnnxEncodeOptions } from './graph.js';
export { ONNX_SCHEMA, ONNX_DATA_TYPE, ONNX_ATTRIBUTE_TYPE } from './schema.js';
