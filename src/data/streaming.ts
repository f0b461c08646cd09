/**
 * A streaming reader for any `DatasetLayout` (VOC, Cityscapes, ADE20K, a
 * folder of pairs). Node only (sharp). Nothing is decoded up front, so
 * start-up costs the layout's file list only; `load(requests)` decodes on
 * demand (sharp works on libuv threads, at most `concurrency` files at once)
 * into a cache bounded by `cacheBytes` (least recently used out first). The
 * training loop and evaluation call `load` a few batches ahead of use.
 * `get` answers synchronously for samples in the cache and names the
 * sample otherwise.
 */
import { augmentSample, decodedRgbSample, IMAGENET_MEAN, IMAGENET_STD, normalizeImage, type AugmentOptions } from './augment.js';
import { colorLookup, decodePair, type ColorLookup, type DecodedPair } from './pairDecode.js';
import type { DatasetLayout } from './pairs.js';
import type { SampleRequest, SegmentationDataset, SegmentationSample } from './types.js';

export interface StreamingOptions {
  /** Bytes of decoded pairs kept (RGB + labels). Default 256 MiB. */
  cacheBytes?: number;
  /** Files decoded at once (sharp's libuv threads). Default 4. */
  concurrency?: number;
  /** Shrink (never enlarge) so that the longer side is at most this many pixels. */
  maxSide?: number;
  /** Random augmentation in `get`/`load`, seeded by hash(seed, epoch, index). */
  augment?: AugmentOptions & { seed?: number };
  /** Normalisation of RGB in [0, 1]. Default ImageNet mean/std. */
  mean?: readonly number[];
  std?: readonly number[];
}

/** Counters for tests and benches. */
export interface StreamingStats {
  decoded: number;
  cacheHits: number;
  cachedItems: number;
  cachedBytes: number;
  /** Largest `cachedBytes` seen. */
  peakCachedBytes: number;
}

function itemBytes(item: DecodedPair): number {
  return item.rgb.byteLength + item.label.byteLength;
}

/** A dataset over a layout's files, decoded on demand into a bounded cache. */
export class StreamingDataset implements SegmentationDataset {
  readonly numClasses: number;
  readonly ignoreLabel: number;
  readonly classNames: readonly string[];
  readonly size: number;
  /** Ids in layout order. */
  readonly ids: readonly string[];
  private readonly cache = new Map<number, DecodedPair>();
  private readonly inFlight = new Map<number, Promise<DecodedPair>>();
  private readonly waiting: Array<() => void> = [];
  private running = 0;
  private readonly lookup: ColorLookup | null;
  private readonly cacheBytes: number;
  private readonly concurrency: number;
  private readonly mean: readonly number[];
  private readonly std: readonly number[];
  private readonly counters: StreamingStats = { decoded: 0, cacheHits: 0, cachedItems: 0, cachedBytes: 0, peakCachedBytes: 0 };

  constructor(
    readonly layout: DatasetLayout,
    private readonly options: StreamingOptions = {},
  ) {
    const fn = 'createStreamingDataset';
    if (layout === null || typeof layout !== 'object' || !Array.isArray(layout.pairs)) throw new Error(`${fn}: 'layout' must be a DatasetLayout, received ${String(layout)}`);
    if (layout.pairs.length === 0) throw new Error(`${fn}: layout '${layout.name}' split '${layout.split}' lists no image/mask pairs`);
    const { cacheBytes = 256 * 2 ** 20, concurrency = 4, maxSide } = options;
    if (!(Number.isFinite(cacheBytes) && cacheBytes >= 0)) throw new Error(`${fn}: 'cacheBytes' must be a number ≥ 0, received ${cacheBytes}`);
    if (!Number.isInteger(concurrency) || concurrency < 1 || concurrency > 64) throw new Error(`${fn}: 'concurrency' must be an integer in [1, 64], received ${concurrency}`);
    if (maxSide !== undefined && (!Number.isInteger(maxSide) || maxSide < 1)) throw new Error(`${fn}: 'maxSide' must be a positive integer, received ${maxSide}`);
    this.mean = options.mean ?? IMAGENET_MEAN;
    this.std = options.std ?? IMAGENET_STD;
    normalizeImage(new Uint8Array(3), 3, this.mean, this.std); // validates mean/std with a clear message
    if (options.augment !== undefined) augmentSample({ image: new Float32Array(3), label: new Uint8Array(1), height: 1, width: 1, channels: 3, id: '' }, options.augment, 0);
    this.cacheBytes = cacheBytes;
    this.concurrency = concurrency;
    this.numClasses = layout.numClasses;
    this.ignoreLabel = layout.ignoreLabel;
    this.classNames = layout.classNames;
    this.size = layout.pairs.length;
    this.ids = layout.pairs.map((p) => p.id);
    this.lookup = colorLookup(layout.mask, layout.ignoreLabel);
  }

  /** Decode/cache counters. */
  stats(): StreamingStats {
    return { ...this.counters };
  }

  private checkIndex(fn: string, index: number): void {
    if (!Number.isInteger(index) || index < 0 || index >= this.size) {
      throw new Error(`StreamingDataset.${fn}: 'index' must be an integer in [0, ${this.size - 1}], received ${index}`);
    }
  }

  private sample(item: DecodedPair, index: number, epoch: number): SegmentationSample {
    return decodedRgbSample(item, this.mean, this.std, this.options.augment, this.ignoreLabel, index, epoch);
  }

  /** Sample `index` if it is in the cache (after `load`); else an error naming it. */
  get(index: number, epoch = 0): SegmentationSample {
    this.checkIndex('get', index);
    const item = this.cache.get(index);
    if (item === undefined) {
      throw new Error(`StreamingDataset.get: sample ${index} ('${this.ids[index]}') is not decoded; 'await dataset.load([{ index: ${index} }])' first (the training loop and evaluation do)`);
    }
    this.touch(index, item);
    return this.sample(item, index, epoch);
  }

  /** The samples of `requests`, decoded on demand; see `SegmentationDataset.load`. */
  async load(requests: readonly SampleRequest[]): Promise<SegmentationSample[]> {
    for (const r of requests) this.checkIndex('load', r.index);
    const items = await Promise.all(requests.map((r) => this.item(r.index)));
    return items.map((item, i) => this.sample(item, (requests[i] as SampleRequest).index, (requests[i] as SampleRequest).epoch ?? 0));
  }

  private touch(index: number, item: DecodedPair): void {
    this.cache.delete(index);
    this.cache.set(index, item);
  }

  private item(index: number): Promise<DecodedPair> {
    const cached = this.cache.get(index);
    if (cached !== undefined) {
      this.counters.cacheHits++;
      this.touch(index, cached);
      return Promise.resolve(cached);
    }
    const flying = this.inFlight.get(index);
    if (flying !== undefined) return flying;
    const promise = this.decode(index).finally(() => this.inFlight.delete(index));
    this.inFlight.set(index, promise);
    return promise;
  }

  private async decode(index: number): Promise<DecodedPair> {
    while (this.running >= this.concurrency) await new Promise<void>((resolve) => this.waiting.push(resolve));
    this.running++;
    try {
      const pair = this.layout.pairs[index];
      if (pair === undefined) throw new Error(`StreamingDataset: no pair at index ${index}`);
      const item = await decodePair(this.layout, pair, this.lookup, this.options.maxSide);
      this.counters.decoded++;
      this.store(index, item);
      return item;
    } finally {
      this.running--;
      this.waiting.shift()?.();
    }
  }

  private store(index: number, item: DecodedPair): void {
    const bytes = itemBytes(item);
    if (bytes > this.cacheBytes) return; // larger than the whole cache: used once, not kept
    this.cache.set(index, item);
    this.counters.cachedBytes += bytes;
    for (const [oldIndex, old] of this.cache) {
      if (this.counters.cachedBytes <= this.cacheBytes) break;
      this.cache.delete(oldIndex);
      this.counters.cachedBytes -= itemBytes(old);
    }
    this.counters.cachedItems = this.cache.size;
    this.counters.peakCachedBytes = Math.max(this.counters.peakCachedBytes, this.counters.cachedBytes);
  }
}

/** A streaming dataset over `layout`; see `StreamingDataset`. */
export function createStreamingDataset(layout: DatasetLayout, options: StreamingOptions = {}): StreamingDataset {
  return new StreamingDataset(layout, options);
}
