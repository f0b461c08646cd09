/**
 * An annealed HEM step size η (Eq. 13 of the HEMNet paper) driven by a
 * GradNets schedule g(t) (GradNets paper, "Method Description"):
 *
 *   η(t) = (1 − g(t))·η_start + g(t)·η_end,   g(t) = clip((t − start)/τ, 0, 1),
 *
 * i.e. η_start + g·(η_end − η_start), written as two products so that g = 0
 * gives η_start and g = 1 gives η_end bit for bit. η is set on every `HemHead`
 * found in the target through `HemHead.setStepSize`, which changes the value
 * the next forward pass uses without rebuilding anything.
 *
 * - `controller.hook(step, epoch)` → for `trainSegmentation`'s `beforeStep`
 *   (or any hand-written loop): call it before each optimiser step.
 * - `controller.callback()` → a `tf.CustomCallback` for `model.fit`.
 * - `controller.state()` / `restore(state)` → plain JSON for checkpoints.
 *   `HemHead` does not serialise its η override, so a resumed run must
 *   restore this state (which re-applies η).
 * - `controller.release()` → hands η back to each head's configured value.
 */
import { validateComplete, type FieldSpec, type Schema } from '../schema.js';
import { HemHead } from '../layers/hemHead.js';
import { GradSchedule, toGradSchedule } from './schedule.js';
import { CLOCK_STATE_SCHEMA, ScheduleClock } from './clock.js';
import { collectLayers, type LayerTarget } from './walk.js';
import type { GradScheduleConfig } from './schedule.js';

/** What a step-size controller can be pointed at. */
export type HemStepSizeTarget = LayerTarget;

export interface HemStepSizeOptions {
  /** η at g = 0 (before and at the start of the ramp); in (0, 1]. */
  stepSizeStart: number;
  /** η at g = 1 (after the ramp); in (0, 1]. */
  stepSizeEnd: number;
  /** The g(t) schedule (τ > 0, start, unit 'epoch' | 'step'). */
  schedule: GradSchedule | GradScheduleConfig;
}

/** Plain-JSON state for checkpoints. */
export interface HemStepSizeState {
  stepSizeStart: number;
  stepSizeEnd: number;
  schedule: Required<GradScheduleConfig>;
  /** Optimiser steps taken so far. */
  step: number;
  /** Current epoch (0-based). */
  epoch: number;
}


function describe(value: unknown): string {
  if (typeof value === 'string') return `'${value}'`;
  if (typeof value === 'object' && value !== null) {
    try {
      return JSON.stringify(value);
    } catch {
      return typeof value;
    }
  }
  return String(value);
}

function checkStepSizeValue(fn: string, name: string, value: unknown): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || !(value > 0 && value <= 1)) {
    throw new Error(`${fn}: '${name}' (η) must be a number in (0, 1], received ${describe(value)}`);
  }
  return value;
}

function stepSizeField(name: string, doc: string): FieldSpec {
  return { kind: 'number', min: 0, exclusiveMin: true, max: 1, doc, check: (where, value) => void checkStepSizeValue(where, name, value) };
}

/** HemStepSizeController options, one entry each (validated against this). */
export const HEM_STEP_SIZE_SCHEMA = {
  stepSizeStart: stepSizeField('stepSizeStart', 'η at g = 0 (before and at the start of the ramp); in (0, 1]'),
  stepSizeEnd: stepSizeField('stepSizeEnd', 'η at g = 1 (after the ramp); in (0, 1]'),
  schedule: {
    kind: 'any-object', doc: 'the g(t) schedule: a GradSchedule or its config (GRAD_SCHEDULE_SCHEMA)',
    check: (where: string, value: unknown) => {
      if (typeof value !== 'object' || value === null) throw new Error(`${where}: 'schedule' must be a GradSchedule or a config like {tau: 5}, received ${describe(value)}`);
    },
  },
} as const satisfies Schema;

/** What `state()` saves: the options (schedule as JSON) and the clock. */
export const HEM_STEP_SIZE_STATE_SCHEMA = { ...HEM_STEP_SIZE_SCHEMA, ...CLOCK_STATE_SCHEMA } as const satisfies Schema;


/**
 * Every `HemHead` reachable from `target` (layers of nested models, wrapped
 * layers, sublayers of GradNet components), once each, depth-first.
 */
export function findHemHeadLayers(target: HemStepSizeTarget): HemHead[] {
  return collectLayers(target, (layer): layer is HemHead => layer instanceof HemHead, 'findHemHeadLayers');
}

/** η(t) = (1 − g)·η_start + g·η_end for a given g ∈ [0, 1]. */
export function interpolateStepSize(stepSizeStart: number, stepSizeEnd: number, g: number): number {
  if (g <= 0) return stepSizeStart;
  if (g >= 1) return stepSizeEnd;
  return (1 - g) * stepSizeStart + g * stepSizeEnd;
}

/** Anneals η of every `HemHead` in a model from `stepSizeStart` to `stepSizeEnd`. */
export class HemStepSizeController extends ScheduleClock {
  /** The heads this controller drives. */
  readonly heads: readonly HemHead[];
  /** Bound hook for custom loops: call `hook(step, epoch)` before each optimiser step. */
  private start: number;
  private end: number;

  constructor(target: HemStepSizeTarget, options: HemStepSizeOptions) {
    const fn = 'HemStepSizeController';
    if (typeof options !== 'object' || options === null || Array.isArray(options)) {
      throw new Error(`${fn}: 'options' must be an object {stepSizeStart, stepSizeEnd, schedule}, received ${describe(options)}`);
    }
    validateComplete(fn, HEM_STEP_SIZE_SCHEMA, options, 'option');
    super(fn, toGradSchedule(options.schedule));
    this.start = options.stepSizeStart;
    this.end = options.stepSizeEnd;
    const heads = findHemHeadLayers(target);
    if (heads.length === 0) {
      throw new Error(`${fn}: found no HemHead layers in 'target'; build the model with head 'hem' or 'ema'`);
    }
    this.heads = heads;
  }

  protected valueFor(gate: number): number {
    return interpolateStepSize(this.start, this.end, gate);
  }

  protected write(stepSize: number): void {
    for (const head of this.heads) head.setStepSize(stepSize);
  }

  get stepSizeStart(): number {
    return this.start;
  }

  get stepSizeEnd(): number {
    return this.end;
  }

  /** η(t) at the current time. */
  get stepSize(): number {
    return this.valueFor(this.gate);
  }

  /** Hands every head back its configured η (`setStepSize(null)`). */
  release(): void {
    for (const head of this.heads) head.setStepSize(null);
    this.lastApplied = null;
  }

  /** Plain JSON for a checkpoint. */
  state(): HemStepSizeState {
    return {
      stepSizeStart: this.start,
      stepSizeEnd: this.end,
      schedule: this.currentSchedule.toJSON(),
      step: this.currentStep,
      epoch: this.currentEpoch,
    };
  }

  /** Restores `state()` output (validated; unknown keys are errors) and re-applies η. */
  restore(state: unknown): void {
    const fn = 'HemStepSizeController.restore';
    if (typeof state !== 'object' || state === null || Array.isArray(state)) {
      throw new Error(`${fn}: 'state' must be an object {stepSizeStart, stepSizeEnd, schedule, step, epoch}, received ${describe(state)}`);
    }
    const record = validateComplete(fn, HEM_STEP_SIZE_STATE_SCHEMA, state, 'state key');
    this.start = record['stepSizeStart'] as number;
    this.end = record['stepSizeEnd'] as number;
    this.restoreTime(GradSchedule.fromJSON(record['schedule']), record['step'] as number, record['epoch'] as number);
  }
}
