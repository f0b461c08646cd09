/**
 * `hemnet export --run DIR --onnx model.onnx`: a run folder's model (latest
 * checkpoint, else the saved model) as an ONNX file, with the class names
 * and input normalisation of the run's dataset (registry `DATASETS`) in its metadata.
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import '../../data/builtinDatasets.js';
import { DATASETS } from '../../data/registry.js';
import { exportOnnx, ONNX_DEFAULT_OPSET } from '../../interop/onnx/export.js';
import type { RunConfig } from '../../train/runConfig.js';
import type { CommandSpec } from '../command.js';
import { numberOption, requireOption, stringOption } from '../command.js';
import { loadRunModel } from '../run.js';

/** What the run's dataset (registry `DATASETS`) says its images are normalised with, and its class names. */
export function runDatasetMetadata(config: RunConfig): { mean: number[]; std: number[]; classNames: string[] } {
  const meta = DATASETS.get(config.data.source, 'hemnet export').metadata(config);
  return { mean: [...meta.mean], std: [...meta.std], classNames: [...meta.classNames] };
}

export const exportSpec: CommandSpec = {
  name: 'export',
  summary: "Export a run folder's model to ONNX (opset 13–17) for ONNX Runtime and other serving stacks",
  synopsis: '--run DIR --onnx FILE [--layout nchw|nhwc] [--normalize] [--probabilities] [--with-aux] [--eval-iterations N] [--opset N]',
  description:
    "The file's input is 'image', float32 [batch, C, H, W] (or [batch, H, W, C] with --layout nhwc) at the run's\n" +
    'input size, normalised as in training: (pixel/255 − mean)/std with the mean/std written in the metadata\n' +
    "(hemnet.normalization); with --normalize the graph does that itself and takes raw pixels 0..255. Outputs:\n" +
    "'logits' [batch, classes, H, W] (then 'probabilities' with --probabilities, 'aux_logits' with --with-aux).",
  configFlags: false,
  options: {
    run: { type: 'string', value: 'DIR', help: "run folder written by 'hemnet train'" },
    onnx: { type: 'string', value: 'FILE', help: 'the .onnx file to write' },
    layout: { type: 'string', value: 'L', help: "'nchw' (default, ONNX's convention) or 'nhwc' (tfjs's)" },
    normalize: { type: 'boolean', help: 'bake the input normalisation into the graph (input = raw pixels 0..255)' },
    probabilities: { type: 'boolean', help: "also output 'probabilities' (softmax over classes)" },
    'with-aux': { type: 'boolean', help: "keep the auxiliary head's 'aux_logits' output (default: logits only)" },
    'eval-iterations': { type: 'string', value: 'N', help: 'T_eval: EM iterations unrolled in the graph (default: the model’s own)' },
    opset: { type: 'string', value: 'N', help: `ONNX opset, 13–17 (default ${ONNX_DEFAULT_OPSET})` },
    backend: { type: 'string', value: 'NAME', help: 'tfjs backend used to read the weights (default: the run’s)' },
  },
  run: async ({ values, io }) => {
    const run = requireOption('export', '--run DIR', values.run, "a folder written by 'hemnet train'");
    const out = requireOption('export', '--onnx FILE', values.onnx, 'the .onnx file to write');
    const layout = stringOption(values.layout) ?? 'nchw';
    if (layout !== 'nchw' && layout !== 'nhwc') throw new Error(`hemnet export: '--layout' must be 'nchw' or 'nhwc', received '${layout}'`);
    const evalIterations = values['eval-iterations'] === undefined ? null : numberOption('eval-iterations', values['eval-iterations'], 0);
    const opset = numberOption('opset', values.opset, ONNX_DEFAULT_OPSET);
    const backend = stringOption(values.backend);
    const { model, config, step } = await loadRunModel(run, backend);
    const { mean, std, classNames } = runDatasetMetadata(config);
    const normalization = { mean, std };
    const metadata: Record<string, string> = {
      'hemnet.normalization': JSON.stringify({ scale: 1 / 255, mean, std }),
      'hemnet.modelConfig': JSON.stringify(config.model),
      'hemnet.numClasses': String(config.model.numClasses),
      'hemnet.classNames': JSON.stringify(classNames),
      'hemnet.dataset': config.data.source,
    };
    const version = (JSON.parse(await readFile(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
    const exported = exportOnnx(model, {
      layout,
      outputs: values['with-aux'] === true ? 'all' : 'main',
      probabilities: values.probabilities === true,
      evalIterations,
      opset,
      normalization: values.normalize === true ? normalization : null,
      metadata,
      producerVersion: version,
    });
    model.dispose();
    await mkdir(dirname(out), { recursive: true });
    await writeFile(out, exported.bytes);
    const heads = Object.entries(exported.evalIterations).map(([name, t]) => `${name} T_eval ${t}`);
    io.out(
      `wrote ${out} (${(exported.bytes.length / 1024).toFixed(0)} KiB, opset ${exported.opset}, ${exported.parameters.toLocaleString('en')} parameters) from ${run} (step ${Number.isNaN(step) ? 'final' : step})\n` +
        `input '${exported.inputName}' ${layout.toUpperCase()} [${exported.inputShape.join(', ')}], ` +
        (values.normalize === true ? 'raw pixels 0..255 (normalisation in the graph)' : `normalised (pixel/255 − [${normalization.mean.join(', ')}]) / [${normalization.std.join(', ')}]`) +
        ` · outputs ${exported.outputNames.join(', ')}${heads.length > 0 ? ` · ${heads.join(', ')}` : ''}\n`,
    );
    return 0;
  },
};
