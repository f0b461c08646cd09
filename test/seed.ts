/**
 * Loaded with `--import` before every test file: replaces Math.random with a
 * seeded generator so a test run is a pure function of HEMNET_TEST_SEED
 * (default 1). tfjs draws its unseeded initialisers' seeds from Math.random,
 * so without this a layer's initial weights differ from run to run and a
 * test that happens to depend on them passes here and fails on CI.
 *
 * Run the suite under other seeds to check that no assertion leans on one
 * lucky draw:  HEMNET_TEST_SEED=7 npm test
 */
import { createRng } from '../src/data/random.js';

const raw = process.env.HEMNET_TEST_SEED ?? '1';
const seed = Number(raw);
if (!Number.isInteger(seed) || seed < 0) {
  throw new Error(`HEMNET_TEST_SEED must be a non-negative integer, received '${raw}'`);
}
const rng = createRng(seed);
Math.random = (): number => rng.next();
