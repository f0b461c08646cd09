import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setBackend } from '../../backend.js';
import { formatImportReport } from '../../interop/importTorch.js';
import { readSafetensorsFile } from '../../interop/safetensorsFile.js';
import { TORCH_SOURCES, type TorchSource } from '../../interop/torchMaps.js';
import { importTorchCheckpoint } from '../../interop/torchModels.js';
import { saveModelToFiles } from '../../train/checkpointFiles.js';
import type { CommandSpec } from '../command.js';
import { numberOption, requireOption, stringOption } from '../command.js';

function sizeOption(value: string | boolean | undefined): [number, number] {
  const text = stringOption(value) ?? '224,224';
  const parts = text.split(',').map((s) => Number(s));
  if (parts.length !== 2 || !parts.every((n) => Number.isInteger(n) && n > 0)) {
    throw new Error(`hemnet import: '--input-size' must be H,W (two positive integers), received '${text}'`);
  }
  return [parts[0] as number, parts[1] as number];
}

export const importSpec: CommandSpec = {
  name: 'import',
  summary: 'Load PyTorch weights (.safetensors: torchvision ResNet-50/101, EMANet, mmseg EMAHead) into a hemnet model folder',
  synopsis: `--from ${TORCH_SOURCES.join('|')} WEIGHTS.safetensors --out DIR`,
  description:
    'Writes DIR/model.json + weights.bin (a tfjs model with hemnet layer names) and DIR/import.json (what was built and the full\n' +
    'report: every loaded, ignored, unmatched, missing or mis-shaped tensor). Fails, writing nothing, when the report has a problem,\n' +
    'unless --allow-partial. A torchvision ResNet gives a backbone model; start training from it by layer name with\n' +
    "loadBackboneWeights(model, fileModelHandler(DIR)) (docs/interop.md). Convert a .pth first: in Python,\n" +
    "safetensors.torch.save_file(torch.load('x.pth'), 'x.safetensors').",
  configFlags: false,
  maxPositionals: 1,
  options: {
    from: { type: 'string', value: 'SOURCE', help: TORCH_SOURCES.join(' | ') },
    out: { type: 'string', value: 'DIR', help: 'output folder' },
    'output-stride': { type: 'string', value: 'OS', help: 'OS of the model built: 8 or 16 (default 8)' },
    'input-size': { type: 'string', value: 'H,W', help: 'input size of the model built (default 224,224)' },
    'em-iterations': { type: 'string', value: 'T', help: "EM iterations of the ema head (EMANet's stage_num; default 3)" },
    'aux-head': { type: 'boolean', help: "mmseg-emahead: also load mmseg's FCN auxiliary head" },
    'allow-partial': { type: 'boolean', help: 'load what matches even if the report lists problems' },
    backend: { type: 'string', value: 'NAME', help: 'wasm | cpu | tensorflow | auto' },
  },
  run: async ({ values, positionals, io }) => {
    const fromText = requireOption('import', `--from ${TORCH_SOURCES.join('|')}`, values.from, 'the kind of checkpoint');
    if (!(TORCH_SOURCES as readonly string[]).includes(fromText)) {
      throw new Error(`hemnet import: '--from' must be one of ${TORCH_SOURCES.map((s) => `'${s}'`).join(', ')}, received '${fromText}'`);
    }
    const from = fromText as TorchSource;
    const weights = positionals[0];
    if (weights === undefined) throw new Error("hemnet import: a WEIGHTS.safetensors file is required (e.g. 'hemnet import --from torchvision-resnet50 resnet50.safetensors --out DIR')");
    const out = requireOption('import', '--out DIR', values.out, 'the folder to write the model to');
    await setBackend(stringOption(values.backend) ?? 'auto');
    const file = await readSafetensorsFile(weights);
    const outputStride = numberOption('output-stride', values['output-stride'], 8);
    const { model, report, built } = importTorchCheckpoint(file, from, {
      sourceName: weights,
      outputStride,
      inputSize: sizeOption(values['input-size']),
      emIterations: numberOption('em-iterations', values['em-iterations'], 3),
      auxiliaryHead: values['aux-head'] === true,
      strict: values['allow-partial'] !== true,
    });
    try {
      await saveModelToFiles(out, model);
      const record = { from, weights, metadata: file.metadata, built, report: { ...report } };
      await writeFile(join(out, 'import.json'), `${JSON.stringify(record, null, 2)}\n`);
      io.out(`${formatImportReport(report)}\nwrote ${join(out, 'model.json')}, ${join(out, 'weights.bin')}, ${join(out, 'import.json')}\n`);
    } finally {
      model.dispose();
    }
    return 0;
  },
};
