/**
 * Drives the gates of every GradNet layer in a model from one schedule
 * g(t) (GradNets paper, "Method Description": g = min(t/τ, 1), t the epoch).
 *
 * - `controller.callback()` → a `tf.CustomCallback` for `model.fit` that sets
 *   g(epoch) at the start of each epoch (unit 'epoch') or g(step) before each
 *   batch (unit 'step').
 * - `controller.hook(step, epoch)` → the same for a hand-written training
 *   loop: call it before each optimiser step.
 * - `controller.state()` / `restore(state)` → plain JSON for checkpoints. The
 *   gate values themselves are layer weights, so `model.save` stores them too.
 */
import { validateComplete } from '../schema.js';
import { GradNetLayer } from './base.js';
import { GradSchedule, toGradSchedule } from './schedule.js';
import { CLOCK_STATE_SCHEMA, ScheduleClock } from './clock.js';
import { collectLayers, type LayerTarget } from './walk.js';
import type { GradScheduleConfig } from './schedule.js';

/** What a controller can be pointed at. */
export type GradNetTarget = LayerTarget;

export interface GradNetControllerOptions {
  /** Control only the GradNet layers for which this returns true (default: all). */
  filter?: (layer: GradNetLayer) => boolean;
}

/** Plain-JSON controller state for checkpoints. */
export interface GradNetControllerState {
  schedule: Required<GradScheduleConfig>;
  /** Optimiser steps taken so far (batches seen by the callback or passed to the hook). */
  step: number;
  /** Current epoch (0-based). */
  epoch: number;
}


/**
 * Every GradNet layer reachable from `target`: layers of (nested) models,
 * layers inside wrappers, and GradNet layers nested inside other GradNet
 * layers (e.g. a `GradualReLU` used as a branch of a `GradualInterpolation`).
 * Each layer appears once, in depth-first order.
 */
export function findGradNetLayers(target: GradNetTarget): GradNetLayer[] {
  return collectLayers(target, (layer): layer is GradNetLayer => layer instanceof GradNetLayer, 'findGradNetLayers');
}

/** Sets g on a group of GradNet layers from a schedule. */
export class GradNetController extends ScheduleClock {
  /** The layers this controller drives. */
  readonly layers: readonly GradNetLayer[];

  constructor(target: GradNetTarget, schedule: GradSchedule | GradScheduleConfig, options: GradNetControllerOptions = {}) {
    const fn = 'GradNetController';
    super(fn, toGradSchedule(schedule));
    if (options.filter !== undefined && typeof options.filter !== 'function') {
      throw new Error(`${fn}: 'filter' must be a function, received ${typeof options.filter}`);
    }
    const all = findGradNetLayers(target);
    const layers = options.filter === undefined ? all : all.filter(options.filter);
    if (layers.length === 0) {
      throw new Error(
        `${fn}: found no GradNet layers to control in 'target' (${all.length} GradNet layers before 'filter'); ` +
          `add GradualReLU, GradualInterpolation, … layers to the model first`,
      );
    }
    this.layers = layers;
  }

  protected valueFor(gate: number): number {
    return gate;
  }

  protected write(g: number): void {
    for (const layer of this.layers) layer.setGate(g);
  }

  /** Plain JSON for a checkpoint. */
  state(): GradNetControllerState {
    return { schedule: this.currentSchedule.toJSON(), step: this.currentStep, epoch: this.currentEpoch };
  }

  /** Restores `state()` output (validated) and re-applies g. */
  restore(state: unknown): void {
    const record = validateComplete('GradNetController.restore', CLOCK_STATE_SCHEMA, state, 'state key');
    this.restoreTime(GradSchedule.fromJSON(record['schedule']), record['step'] as number, record['epoch'] as number);
  }
}
