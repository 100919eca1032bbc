/**
 * Vitest setup file (vite.config.ts `setupFiles`): a failing test that drew seeds from caseSeed
 * (test/helpers.ts) prints them and how to replay the run, whatever check failed (a bare expect, a
 * buffer's stray-write check), so no randomized test needs to thread its seed into every assertion.
 */
import { beforeEach } from 'vitest';
import { testSeeds } from './helpers.js';

beforeEach(({ onTestFailed, task }) => {
  testSeeds.length = 0;
  onTestFailed(() => {
    if (testSeeds.length === 0) return;
    const seeds = [...new Set(testSeeds)];
    const replay = seeds.length === 1 ? `rerun with PLE_TEST_SEED=${seeds[0]}` : 'PLE_TEST_SEED=<seed> gives every draw that one seed';
    console.error(`${task.name}: failed with seed${seeds.length > 1 ? 's' : ''} ${seeds.join(', ')}; ${replay}`);
  });
});
