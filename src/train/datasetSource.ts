/**
 * Rebuilding a dataset inside a worker thread (Node only) from a
 * `DatasetSource`: import `source.module`, call its export
 * `source.exportName(...source.args)`, read `source.property` of the result
 * when given. Used by the data worker and the evaluation workers.
 */
import type { SegmentationDataset } from '../data/types.js';
import type { DatasetSource } from './parallelData.js';

export async function buildDatasetFromSource(source: DatasetSource): Promise<SegmentationDataset> {
  const module = (await import(source.module)) as Record<string, unknown>;
  const factory = module[source.exportName];
  if (typeof factory !== 'function') throw new Error(`'${source.module}' has no function export '${source.exportName}'`);
  const made = (await (factory as (...args: unknown[]) => unknown)(...source.args)) as Record<string, unknown>;
  const dataset = (source.property !== undefined ? made[source.property] : made) as SegmentationDataset | undefined;
  if (dataset === undefined || typeof dataset.get !== 'function') throw new Error(`'${source.exportName}' did not give a dataset${source.property !== undefined ? ` in '${source.property}'` : ''}`);
  return dataset;
}
