/**
 * The time-keeping shared by every schedule-driven controller (GradNet gates,
 * HEM step size): the current step and epoch, t in the schedule's unit, a hook
 * for custom loops, a `model.fit` callback, and applying the scheduled value
 * only when it changes.
 */
import * as tf from '@tensorflow/tfjs';
import { GradSchedule } from './schedule.js';
import { checkInteger, type FieldSpec, type Schema } from '../schema.js';

export function checkCount(fn: string, name: string, value: unknown): number {
  return checkInteger(fn, name, value, 0);
}

/** A schema field for a step or epoch counter (integer ≥ 0), with `checkCount`'s message. */
export function countField(name: string, doc: string): FieldSpec {
  return { kind: 'integer', min: 0, doc, check: (where, value) => void checkCount(where, name, value) };
}

/** State fields every clock saves: the schedule, steps taken, the epoch. */
export const CLOCK_STATE_SCHEMA = {
  schedule: { kind: 'any-object', doc: "the schedule's toJSON()", check: (_where: string, value: unknown) => void GradSchedule.fromJSON(value) },
  step: countField('step', 'optimiser steps taken so far'),
  epoch: countField('epoch', 'current epoch (0-based)'),
} as const satisfies Schema;

export abstract class ScheduleClock {
  /** Bound hook for custom loops: call `hook(step, epoch)` before each optimiser step. */
  readonly hook: (step: number, epoch?: number) => void;
  protected currentSchedule: GradSchedule;
  protected currentStep = 0;
  protected currentEpoch = 0;
  protected lastApplied: number | null = null;

  /** `name` prefixes error messages (e.g. 'GradNetController'). */
  protected constructor(
    protected readonly name: string,
    schedule: GradSchedule,
  ) {
    this.currentSchedule = schedule;
    this.hook = (step: number, epoch = 0): void => {
      this.currentStep = checkCount(`${name}.hook`, 'step', step);
      this.currentEpoch = checkCount(`${name}.hook`, 'epoch', epoch);
      this.apply();
    };
  }

  /** The scheduled value (g, η, …) for a gate g(t). */
  protected abstract valueFor(gate: number): number;

  /** Writes a value to the controlled layers. */
  protected abstract write(value: number): void;

  get schedule(): GradSchedule {
    return this.currentSchedule;
  }

  get step(): number {
    return this.currentStep;
  }

  get epoch(): number {
    return this.currentEpoch;
  }

  /** t in the schedule's unit (epoch or step). */
  get time(): number {
    return this.currentSchedule.unit === 'epoch' ? this.currentEpoch : this.currentStep;
  }

  /** g(t) at the current time. */
  get gate(): number {
    return this.currentSchedule.value(this.time);
  }

  /** Writes the scheduled value for the current time to every layer (if it changed); returns it. */
  apply(): number {
    const value = this.valueFor(this.gate);
    if (value !== this.lastApplied) {
      this.write(value);
      this.lastApplied = value;
    }
    return value;
  }

  /** Moves to `epoch` (and optionally `step`) and applies the value; returns it. */
  setTime(epoch: number, step: number = this.currentStep): number {
    this.currentEpoch = checkCount(`${this.name}.setTime`, 'epoch', epoch);
    this.currentStep = checkCount(`${this.name}.setTime`, 'step', step);
    return this.apply();
  }

  /**
   * A `model.fit` callback: unit 'epoch' → the value at each epoch start;
   * unit 'step' → before each batch. Steps count across epochs and calls to
   * `fit` (restore the state to resume a run).
   */
  callback(): tf.CustomCallback {
    return new tf.CustomCallback({
      onTrainBegin: () => {
        this.apply();
      },
      onEpochBegin: (epoch: number) => {
        this.currentEpoch = epoch;
        this.apply();
      },
      onBatchBegin: () => {
        if (this.currentSchedule.unit === 'step') this.apply();
      },
      onBatchEnd: () => {
        this.currentStep += 1;
      },
    });
  }

  /** Sets schedule and time from a validated checkpoint state and re-applies the value. */
  protected restoreTime(schedule: GradSchedule, step: number, epoch: number): void {
    this.currentSchedule = schedule;
    this.currentStep = step;
    this.currentEpoch = epoch;
    this.lastApplied = null;
    this.apply();
  }
}
