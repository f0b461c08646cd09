/**
 * Dataset-level segmentation metrics from a confusion matrix accumulated
 * over all pixels (not averaged per image). Platform-neutral.
 *
 * matrix[t][p] = number of pixels with true class t predicted as p;
 * IoU_c = TP / (TP + FP + FN); mIoU averages over classes present in the
 * truth or the prediction (a class absent from both has no IoU).
 */
import * as tf from '@tensorflow/tfjs';

export type LabelArray = Int32Array | Uint8Array | Uint16Array | Float32Array | readonly number[];

export interface ConfusionMatrixJSON {
  numClasses: number;
  ignoreLabel: number;
  classNames?: readonly string[];
  /** Rows = truth, columns = prediction. */
  matrix: number[][];
  totalPixels: number;
  /** Per class; null when the class is absent from both truth and prediction. */
  perClassIoU: (number | null)[];
  meanIoU: number;
  pixelAccuracy: number;
  meanClassAccuracy: number;
}

export class ConfusionMatrix {
  readonly numClasses: number;
  readonly ignoreLabel: number;
  readonly classNames: readonly string[] | undefined;
  /** Row-major `[numClasses, numClasses]` counts (Float64: exact to 2^53 pixels). */
  readonly counts: Float64Array;

  constructor(numClasses: number, options: { ignoreLabel?: number; classNames?: readonly string[] } = {}) {
    if (!Number.isInteger(numClasses) || numClasses < 1) {
      throw new Error(`ConfusionMatrix: 'numClasses' must be a positive integer, received ${numClasses}`);
    }
    const ignoreLabel = options.ignoreLabel ?? 255;
    if (!Number.isInteger(ignoreLabel) || (ignoreLabel >= 0 && ignoreLabel < numClasses)) {
      throw new Error(`ConfusionMatrix: 'ignoreLabel' must be an integer outside [0, ${numClasses - 1}], received ${ignoreLabel}`);
    }
    if (options.classNames !== undefined && options.classNames.length !== numClasses) {
      throw new Error(`ConfusionMatrix: 'classNames' must have ${numClasses} names, received ${options.classNames.length}`);
    }
    this.numClasses = numClasses;
    this.ignoreLabel = ignoreLabel;
    this.classNames = options.classNames;
    this.counts = new Float64Array(numClasses * numClasses);
  }

  /**
   * Adds one image or batch: `prediction` and `label` hold one class per
   * pixel (same length, any layout such as `[B, H, W]`). Pixels whose label is
   * `ignoreLabel` are skipped; any other label or prediction outside
   * [0, numClasses) is an error.
   */
  update(prediction: LabelArray, label: LabelArray): this {
    if (prediction.length !== label.length) {
      throw new Error(`ConfusionMatrix.update: 'prediction' has ${prediction.length} pixels but 'label' has ${label.length}`);
    }
    const K = this.numClasses;
    for (let i = 0; i < label.length; i++) {
      const t = label[i] as number;
      if (t === this.ignoreLabel) continue;
      const p = prediction[i] as number;
      if (!Number.isInteger(t) || t < 0 || t >= K) {
        throw new Error(`ConfusionMatrix.update: 'label' must be in [0, ${K - 1}] or ${this.ignoreLabel}, received ${t} at pixel ${i}`);
      }
      if (!Number.isInteger(p) || p < 0 || p >= K) {
        throw new Error(`ConfusionMatrix.update: 'prediction' must be in [0, ${K - 1}], received ${p} at pixel ${i}`);
      }
      this.counts[t * K + p]! += 1;
    }
    return this;
  }

  /**
   * Tensor-friendly update: `output` is logits/probabilities `[B, H, W, K]`
   * (arg-maxed over the last axis) or class indices `[B, H, W]`; `label` is
   * `[B, H, W]` (tensor or array). Reads the data back synchronously and leaks no tensors.
   */
  updateFromTensors(output: tf.Tensor, label: tf.Tensor | LabelArray): this {
    const labelSize = label instanceof tf.Tensor ? label.size : label.length;
    let prediction: Int32Array | Float32Array | Uint8Array;
    if (output.size === labelSize) {
      prediction = output.dataSync() as Int32Array | Float32Array;
    } else if (output.size === labelSize * this.numClasses && output.shape[output.rank - 1] === this.numClasses) {
      const argMax = tf.argMax(output, -1);
      prediction = argMax.dataSync() as Int32Array;
      argMax.dispose();
    } else {
      throw new Error(
        `ConfusionMatrix.updateFromTensors: 'output' must be class indices with ${labelSize} values or scores [..., ${this.numClasses}] with ${labelSize * this.numClasses}, received shape [${output.shape.join(', ')}]`,
      );
    }
    const labels = label instanceof tf.Tensor ? (label.dataSync() as Int32Array | Float32Array) : label;
    return this.update(prediction, labels);
  }

  /** Adds another matrix's counts (e.g. from another worker). */
  merge(other: ConfusionMatrix): this {
    if (other.numClasses !== this.numClasses) {
      throw new Error(`ConfusionMatrix.merge: 'other' has ${other.numClasses} classes, expected ${this.numClasses}`);
    }
    for (let i = 0; i < this.counts.length; i++) this.counts[i]! += other.counts[i] as number;
    return this;
  }

  reset(): this {
    this.counts.fill(0);
    return this;
  }

  /** Pixels counted (ignored pixels excluded). */
  total(): number {
    let sum = 0;
    for (const v of this.counts) sum += v;
    return sum;
  }

  private rowSum(c: number): number {
    let s = 0;
    for (let j = 0; j < this.numClasses; j++) s += this.counts[c * this.numClasses + j] as number;
    return s;
  }

  private columnSum(c: number): number {
    let s = 0;
    for (let i = 0; i < this.numClasses; i++) s += this.counts[i * this.numClasses + c] as number;
    return s;
  }

  /** IoU per class = TP / (TP + FP + FN); null when the class is absent from truth and prediction. */
  perClassIoU(): (number | null)[] {
    const out: (number | null)[] = [];
    for (let c = 0; c < this.numClasses; c++) {
      const tp = this.counts[c * this.numClasses + c] as number;
      const union = this.rowSum(c) + this.columnSum(c) - tp;
      out.push(union === 0 ? null : tp / union);
    }
    return out;
  }

  /** Mean of the non-null per-class IoUs (NaN when nothing was counted). */
  meanIoU(): number {
    const values = this.perClassIoU().filter((v): v is number => v !== null);
    return values.length === 0 ? Number.NaN : values.reduce((a, b) => a + b, 0) / values.length;
  }

  /** Correct pixels / counted pixels. */
  pixelAccuracy(): number {
    let correct = 0;
    for (let c = 0; c < this.numClasses; c++) correct += this.counts[c * this.numClasses + c] as number;
    const total = this.total();
    return total === 0 ? Number.NaN : correct / total;
  }

  /** Recall per class (TP / truth pixels), averaged over classes present in the truth. */
  meanClassAccuracy(): number {
    let sum = 0;
    let present = 0;
    for (let c = 0; c < this.numClasses; c++) {
      const row = this.rowSum(c);
      if (row === 0) continue;
      sum += (this.counts[c * this.numClasses + c] as number) / row;
      present++;
    }
    return present === 0 ? Number.NaN : sum / present;
  }

  /** The matrix as rows (truth) of columns (prediction). */
  toArray(): number[][] {
    const rows: number[][] = [];
    for (let i = 0; i < this.numClasses; i++) rows.push(Array.from(this.counts.subarray(i * this.numClasses, (i + 1) * this.numClasses)));
    return rows;
  }

  toJSON(): ConfusionMatrixJSON {
    return {
      numClasses: this.numClasses,
      ignoreLabel: this.ignoreLabel,
      ...(this.classNames !== undefined ? { classNames: this.classNames } : {}),
      matrix: this.toArray(),
      totalPixels: this.total(),
      perClassIoU: this.perClassIoU(),
      meanIoU: this.meanIoU(),
      pixelAccuracy: this.pixelAccuracy(),
      meanClassAccuracy: this.meanClassAccuracy(),
    };
  }

  /** Rebuilds a matrix from `toJSON()` output (the counts; derived fields are recomputed). */
  static fromJSON(json: Pick<ConfusionMatrixJSON, 'numClasses' | 'ignoreLabel' | 'matrix'> & { classNames?: readonly string[] }): ConfusionMatrix {
    const cm = new ConfusionMatrix(json.numClasses, json.classNames !== undefined ? { ignoreLabel: json.ignoreLabel, classNames: json.classNames } : { ignoreLabel: json.ignoreLabel });
    if (json.matrix.length !== json.numClasses || json.matrix.some((row) => row.length !== json.numClasses)) {
      throw new Error(`ConfusionMatrix.fromJSON: 'matrix' must be ${json.numClasses}×${json.numClasses}`);
    }
    json.matrix.forEach((row, i) => row.forEach((v, j) => (cm.counts[i * json.numClasses + j] = v)));
    return cm;
  }
}
