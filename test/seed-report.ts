/**
 * Vitest setup file (vite.config.ts `setupFiles`): a failing test that drew seeds from caseSeed
 * (test/helpers.ts), in the test or outside any test of its file (describe blocks, beforeAll),
 * prints them and how to replay the run, whatever check failed (a bare expect, a buffer's
 * stray-write check), so no randomized test needs to thread its seed into every assertion.
 */
import { afterEach, beforeEach } from 'vitest';
import { seedLog } from './helpers.js';

// Runs before each test file.
seedLog.inTest = false;
seedLog.outside.length = 0;

beforeEach(({ onTestFailed, task }) => {
  seedLog.test.length = 0;
  seedLog.inTest = true;
  onTestFailed(() => {
    const inTest = [...new Set(seedLog.test)];
    const outside = [...new Set(seedLog.outside)];
    const all = [...inTest, ...outside];
    if (all.length === 0) return;
    const drawn = [inTest.length > 0 ? `in the test ${inTest.join(', ')}` : '', outside.length > 0 ? `outside the tests of its file ${outside.join(', ')}` : ''].filter(Boolean).join('; ');
    const replay = all.length === 1 ? `rerun with PLE_TEST_SEED=${all[0]}` : 'PLE_TEST_SEED=<seed> gives every draw that one seed';
    console.error(`${task.name}: failed with seeds drawn ${drawn}; ${replay}`);
  });
});

afterEach(() => {
  seedLog.inTest = false;
});
