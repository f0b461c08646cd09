/**
 * The demo's "load a trained model" path: load a run's model folder
 * (model.json, weights.bin, segmenter.json — written by `hemnet train`)
 * with `loadSegmenter(url)`, then segment an image the user drops on the
 * page (or picks) with `segment()`, at the image's own size, and draw the
 * overlay, the mask and the attention maps.
 *
 * `?model=URL` loads a model on start. The outcome is published as
 * `window.hemnetSegment` (read by test/browser.test.ts).
 */
import {
  colorizeMask,
  loadSegmenter,
  overlayMask,
  parseBackendName,
  segment,
  setBackend,
  vocColor,
  type RgbaImage,
  type Segmenter,
} from 'hemnet';

export interface SegmentReport {
  width: number;
  height: number;
  mode: string;
  classNames: string[];
  labels: number[];
  probabilities: number[];
  /** Pixels per class. */
  counts: number[];
  attentionElbo: number[] | null;
  attentionSize: [number, number] | null;
}

export type SegmentState =
  | { state: 'idle' | 'loading' | 'segmenting' }
  | { state: 'ready'; classNames: string[]; inputSize: [number, number] }
  | { state: 'done'; report: SegmentReport }
  | { state: 'error'; message: string };

declare global {
  interface Window {
    hemnetSegment: SegmentState;
  }
}

function element<T extends HTMLElement>(id: string): T {
  const found = document.getElementById(id);
  if (found === null) throw new Error(`demo: the page has no element #${id}`);
  return found as T;
}

function draw(canvas: HTMLCanvasElement, image: RgbaImage | ImageData): void {
  canvas.width = image.width;
  canvas.height = image.height;
  const context = canvas.getContext('2d');
  if (context === null) throw new Error('demo: no 2d canvas context');
  context.putImageData(image instanceof ImageData ? image : new ImageData(new Uint8ClampedArray(image.data), image.width, image.height), 0, 0);
}

async function imageFromFile(file: Blob): Promise<HTMLImageElement> {
  const url = URL.createObjectURL(file);
  const image = new Image();
  image.src = url;
  try {
    await image.decode();
  } catch {
    throw new Error(`demo: the dropped file (${file.type || 'unknown type'}) is not an image the browser can decode`);
  } finally {
    URL.revokeObjectURL(url);
  }
  return image;
}

export function setUpSegmentPanel(backendSelect: HTMLSelectElement): void {
  window.hemnetSegment = { state: 'idle' };
  const status = element('segment-status');
  const urlInput = element<HTMLInputElement>('model-url');
  const drop = element('drop');
  const fileInput = element<HTMLInputElement>('image-file');
  let segmenter: Segmenter | null = null;

  const fail = (error: unknown): void => {
    const message = error instanceof Error ? error.message : String(error);
    status.textContent = `Error: ${message}`;
    status.classList.add('error');
    window.hemnetSegment = { state: 'error', message };
  };
  const say = (text: string): void => {
    status.textContent = text;
    status.classList.remove('error');
  };

  const load = async (): Promise<void> => {
    window.hemnetSegment = { state: 'loading' };
    say(`Loading ${urlInput.value}…`);
    await setBackend(parseBackendName(backendSelect.value), { wasmPaths: new URL('./wasm/', location.href).href });
    segmenter?.model.dispose();
    segmenter = await loadSegmenter(new URL(urlInput.value, location.href).href);
    const { classNames, inputSize } = segmenter.info;
    say(`Loaded ${segmenter.model.name}: ${classNames.length} classes (${classNames.join(', ')}), trained on ${inputSize.join('×')} crops. Drop an image here.`);
    window.hemnetSegment = { state: 'ready', classNames, inputSize };
  };

  const run = async (file: Blob): Promise<void> => {
    if (segmenter === null) throw new Error('demo: load a model first');
    window.hemnetSegment = { state: 'segmenting' };
    say('Segmenting…');
    const image = await imageFromFile(file);
    const started = performance.now();
    const result = await segment(segmenter, image);
    const ms = performance.now() - started;
    const { width, height, labels } = result;
    const canvas = document.createElement('canvas');
    canvas.width = width;
    canvas.height = height;
    const context = canvas.getContext('2d');
    if (context === null) throw new Error('demo: no 2d canvas context');
    context.drawImage(image, 0, 0);
    const picture = context.getImageData(0, 0, width, height);
    const rgba: RgbaImage = { data: picture.data, width, height };
    draw(element<HTMLCanvasElement>('segment-overlay'), overlayMask(rgba, labels, { ignoreLabel: segmenter.info.ignoreLabel }));
    draw(element<HTMLCanvasElement>('segment-mask'), colorizeMask(labels, height, width, { ignoreLabel: segmenter.info.ignoreLabel }));
    if (result.attention !== null) draw(element<HTMLCanvasElement>('segment-attention'), result.attention.grid);
    const counts = new Array<number>(result.numClasses).fill(0);
    for (const label of labels) counts[label] = (counts[label] ?? 0) + 1;
    const legend = element('segment-legend');
    legend.innerHTML = '';
    counts.forEach((count, c) => {
      if (count === 0) return;
      const item = document.createElement('li');
      const [r, g, b] = vocColor(c);
      item.innerHTML = `<span class="swatch" style="background: rgb(${r}, ${g}, ${b})"></span>${result.classNames[c] ?? c}: ${((100 * count) / labels.length).toFixed(1)}%`;
      legend.append(item);
    });
    say(`${width}×${height} image, ${result.mode} inference in ${ms.toFixed(0)} ms.`);
    window.hemnetSegment = {
      state: 'done',
      report: {
        width,
        height,
        mode: result.mode,
        classNames: result.classNames,
        labels: Array.from(labels),
        probabilities: Array.from(result.probabilities),
        counts,
        attentionElbo: result.attention?.elbo ?? null,
        attentionSize: result.attention?.featureSize ?? null,
      },
    };
  };

  element<HTMLFormElement>('load-form').addEventListener('submit', (event) => {
    event.preventDefault();
    load().catch(fail);
  });
  fileInput.addEventListener('change', () => {
    const file = fileInput.files?.[0];
    if (file !== undefined) run(file).catch(fail);
  });
  drop.addEventListener('dragover', (event) => {
    event.preventDefault();
    drop.classList.add('over');
  });
  drop.addEventListener('dragleave', () => drop.classList.remove('over'));
  drop.addEventListener('drop', (event) => {
    event.preventDefault();
    drop.classList.remove('over');
    const file = event.dataTransfer?.files[0];
    if (file !== undefined) run(file).catch(fail);
  });
  const preset = new URLSearchParams(location.search).get('model');
  if (preset !== null) {
    urlInput.value = preset;
    load().catch(fail);
  }
}
