/** Moved to src/schema.ts (one schema helper for every configurable thing); re-exported here for existing imports. */
export { validateAgainstSchema } from '../schema.js';
export type { FieldSpec, Schema } from '../schema.js';
