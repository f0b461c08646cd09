/**
 * The GradNets annealing schedule g(t) (GradNets paper, "Method Description"):
 * g = min(t / τ, 1), t the epoch number, τ the epoch at which annealing ends.
 *
 * Generalised here with a start offset and a choice of time unit:
 *   g(t) = clip((t − start) / τ, 0, 1),  t counted in epochs or optimiser steps.
 *
 * A schedule is plain data: `toJSON()` gives a `GradScheduleConfig` that can go
 * into a checkpoint, and `GradSchedule.fromJSON` restores it (unknown keys are
 * errors, so a typo in a config file never passes silently).
 */
import { checkKnownKeys, defaultsOf, keysOf, validateField, type FieldSpec, type Schema } from '../schema.js';

/** What t counts: finished epochs (the paper's choice) or optimiser steps. */
export type GradScheduleUnit = 'epoch' | 'step';
export const GRAD_SCHEDULE_UNITS: readonly GradScheduleUnit[] = ['epoch', 'step'];

/** Shape of the annealing curve. Only the paper's linear ramp for now. */
export type GradScheduleKind = 'linear';
export const GRAD_SCHEDULE_KINDS: readonly GradScheduleKind[] = ['linear'];

/** Plain-JSON form of a schedule (what checkpoints store). */
export interface GradScheduleConfig {
  /** Curve shape; default 'linear'. */
  kind?: GradScheduleKind;
  /** τ: length of the ramp in `unit`s; must be finite and > 0. */
  tau: number;
  /** t at which the ramp begins (g = 0 before it); default 0. */
  start?: number;
  /** What t counts; default 'epoch'. */
  unit?: GradScheduleUnit;
}


function describe(value: unknown): string {
  if (typeof value === 'string') return `'${value}'`;
  if (typeof value === 'number' || typeof value === 'boolean' || value === null || value === undefined) {
    return String(value);
  }
  try {
    return JSON.stringify(value);
  } catch {
    return typeof value;
  }
}

/** A validated, immutable g(t) schedule. */
/** The GradSchedule config, one entry per key (type, default, doc); the constructor validates against it. */
export const GRAD_SCHEDULE_SCHEMA = {
  kind: { kind: 'enum', values: GRAD_SCHEDULE_KINDS, default: 'linear', doc: "curve shape of g(t): 'linear' = clip((t − start)/τ, 0, 1)" },
  tau: {
    kind: 'number', doc: 'τ, length of the ramp in units (finite, > 0)',
    check: (where: string, tau: unknown) => {
      if (typeof tau !== 'number' || !Number.isFinite(tau) || !(tau > 0)) throw new Error(`${where}: 'tau' (τ) must be a finite number > 0, received ${describe(tau)}`);
    },
  },
  start: {
    kind: 'number', default: 0, doc: 't at which the ramp begins (g = 0 before it)',
    check: (where: string, start: unknown) => {
      if (typeof start !== 'number' || !Number.isFinite(start)) throw new Error(`${where}: 'start' must be a finite number, received ${describe(start)}`);
    },
  },
  unit: { kind: 'enum', values: GRAD_SCHEDULE_UNITS, default: 'epoch', doc: "what t counts: 'epoch' or 'step'" },
} as const satisfies Schema;

const CONFIG_KEYS = keysOf(GRAD_SCHEDULE_SCHEMA);

export class GradSchedule {
  readonly kind: GradScheduleKind;
  readonly tau: number;
  readonly start: number;
  readonly unit: GradScheduleUnit;

  constructor(config: GradScheduleConfig) {
    const fn = 'GradSchedule';
    if (typeof config !== 'object' || config === null || Array.isArray(config)) {
      throw new Error(`${fn}: 'config' must be an object like {tau: 5}, received ${describe(config)}`);
    }
    checkKnownKeys(fn, 'config key', config, CONFIG_KEYS);
    const { kind, tau, start, unit } = { ...defaultsOf<Required<GradScheduleConfig>>(GRAD_SCHEDULE_SCHEMA), ...config };
    for (const [key, value] of [['kind', kind], ['tau', tau], ['start', start], ['unit', unit]] as const) {
      validateField(fn, key, GRAD_SCHEDULE_SCHEMA[key] as FieldSpec, value);
    }
    this.kind = kind;
    this.tau = tau;
    this.start = start;
    this.unit = unit;
  }

  /**
   * g(t) = clip((t − start) / τ, 0, 1). Exactly 0 for t ≤ start and exactly 1
   * for t ≥ start + τ.
   */
  value(t: number): number {
    if (typeof t !== 'number' || !Number.isFinite(t)) {
      throw new Error(`GradSchedule.value: 't' must be a finite number, received ${describe(t)}`);
    }
    if (t <= this.start) return 0;
    if (t >= this.start + this.tau) return 1;
    return (t - this.start) / this.tau;
  }

  /** Plain JSON with every field filled in. */
  toJSON(): Required<GradScheduleConfig> {
    return { kind: this.kind, tau: this.tau, start: this.start, unit: this.unit };
  }

  /** Restores a schedule from `toJSON()` output (validated; unknown keys are errors). */
  static fromJSON(json: unknown): GradSchedule {
    if (typeof json !== 'object' || json === null || Array.isArray(json)) {
      throw new Error(`GradSchedule.fromJSON: 'json' must be an object like {tau: 5}, received ${describe(json)}`);
    }
    return new GradSchedule(json as GradScheduleConfig);
  }
}

/** Accepts a schedule or its config. */
export function toGradSchedule(schedule: GradSchedule | GradScheduleConfig): GradSchedule {
  return schedule instanceof GradSchedule ? schedule : new GradSchedule(schedule);
}
