/** The page side of bench/ceiling.ts: the same kernels (bench/ceiling-kernels.ts) on the browser's adapter. */
import { acquireBrowserDevice, formatAdapter } from '../../src/index.js';
import { timeCeilingKernels, type CeilingTiming } from '../ceiling-kernels.js';

async function runCeiling(): Promise<{ adapter: string; timings: CeilingTiming[] }> {
  const ctx = await acquireBrowserDevice();
  try {
    return { adapter: formatAdapter(ctx.adapter), timings: await timeCeilingKernels(ctx.device) };
  } finally {
    ctx.device.destroy();
  }
}

(window as unknown as { runCeiling: typeof runCeiling }).runCeiling = runCeiling;
(window as unknown as { benchReady: boolean }).benchReady = true;
