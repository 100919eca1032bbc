/**
 * What the host offers the CPU device's threads (src/cpu/pool.ts), in Node and in a browser: its
 * cores, whether memory can be shared with workers (and why not), whether this thread may block
 * in Atomics.wait, and starting a worker from source. No Node import at the top: Node's modules are
 * fetched at run time, so the file bundles for browsers as is.
 */

/** The most threads the CPU device runs; a larger count is refused. */
export const MAX_CPU_THREADS = 16;

interface NodeProcess {
  versions?: { node?: string };
  getBuiltinModule?: (name: string) => unknown;
}
const nodeProcess = (): NodeProcess | undefined => {
  const p = (globalThis as { process?: NodeProcess }).process;
  return typeof p?.versions?.node === 'string' ? p : undefined;
};

/** Whether this is Node (or a runtime that passes for it). */
export const inNode = (): boolean => nodeProcess() !== undefined;

/** One of Node's own modules (`node:os`, `node:worker_threads`), fetched at run time. */
async function nodeBuiltin<T>(name: string): Promise<T> {
  const fromProcess = nodeProcess()?.getBuiltinModule?.(name);
  if (fromProcess) return fromProcess as T;
  // Node before 20.16 has no getBuiltinModule; a computed specifier keeps bundlers from resolving it.
  return (await import(/* @vite-ignore */ name)) as T;
}

/** The host's logical cores (what it lets this process use, in Node). */
export async function hostCores(): Promise<number> {
  if (inNode()) {
    const os = await nodeBuiltin<typeof import('node:os')>('node:os');
    return typeof os.availableParallelism === 'function' ? os.availableParallelism() : Math.max(1, os.cpus().length);
  }
  const n = (globalThis as { navigator?: { hardwareConcurrency?: number } }).navigator?.hardwareConcurrency;
  return typeof n === 'number' && n >= 1 ? n : 1;
}

/** The response headers that make a page cross-origin isolated, so it may share memory with workers (the demo's server sends them: vite.config.ts). */
export const CROSS_ORIGIN_ISOLATION_HEADERS = { 'Cross-Origin-Opener-Policy': 'same-origin', 'Cross-Origin-Embedder-Policy': 'require-corp' } as const;

const NOT_ISOLATED = `the page is not cross-origin isolated, so it cannot share memory with workers; serve it with the headers ${Object.entries(
  CROSS_ORIGIN_ISOLATION_HEADERS,
)
  .map(([name, value]) => `${name}: ${value}`)
  .join(' and ')}`;

/** Why this host cannot run the CPU device on several threads, or undefined where it can. */
export function whyNoSharedMemory(): string | undefined {
  if ((globalThis as { crossOriginIsolated?: boolean }).crossOriginIsolated === false) return NOT_ISOLATED;
  if (typeof SharedArrayBuffer === 'undefined' || typeof Atomics === 'undefined') return 'this host has no SharedArrayBuffer';
  if (!inNode() && typeof (globalThis as { Worker?: unknown }).Worker === 'undefined') return 'this host has no Worker';
  try {
    new WebAssembly.Memory({ initial: 1, maximum: 1, shared: true });
  } catch (e) {
    return `this host cannot make a shared WebAssembly memory (${(e as Error).message})`;
  }
  return undefined;
}

/** Whether this thread may block in Atomics.wait (a browser's main thread may not: it spins instead). */
export function canBlock(): boolean {
  try {
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 1, 0);
    return true;
  } catch {
    return false;
  }
}

/** A started worker, alike in Node and in a browser. */
export interface WorkerHandle {
  post(message: unknown): void;
  /** Every message the worker sends. */
  onMessage(listener: (message: unknown) => void): void;
  /** An error the worker did not catch, or its exit. */
  onFailure(listener: (why: string) => void): void;
  terminate(): void;
  /** Lets a Node process exit while the worker runs (call once it is started: its listeners ref it). */
  unref(): void;
}

/** Starts a worker running `source` (a classic script; CommonJS in Node). */
export async function startWorker(source: string): Promise<WorkerHandle> {
  if (inNode()) {
    const { Worker } = await nodeBuiltin<typeof import('node:worker_threads')>('node:worker_threads');
    // execArgv []: not the parent's flags (--input-type=module would make the source an ES module, loaders would load for nothing).
    const w = new Worker(source, { eval: true, execArgv: [] });
    return {
      post: (m) => w.postMessage(m),
      onMessage: (listener) => w.on('message', listener),
      onFailure: (listener) => {
        w.on('error', (e: Error) => listener(`${e.name}: ${e.message}`));
        w.on('exit', (code) => listener(`it exited (code ${code})`));
      },
      terminate: () => void w.terminate(),
      unref: () => w.unref(),
    };
  }
  const w = new Worker(blobUrl(source));
  return {
    post: (m) => w.postMessage(m),
    onMessage: (listener) => w.addEventListener('message', (e) => listener(e.data)),
    onFailure: (listener) => {
      w.addEventListener('error', (e) => listener(e.message || 'the worker failed to start'));
      w.addEventListener('messageerror', () => listener('a message to it could not be read'));
    },
    terminate: () => w.terminate(),
    unref: () => {},
  };
}

/** One Blob URL per worker source, made once and kept for the page's life (every pool's workers start from it). */
const blobUrls = new Map<string, string>();
function blobUrl(source: string): string {
  let url = blobUrls.get(source);
  if (!url) blobUrls.set(source, (url = URL.createObjectURL(new Blob([source], { type: 'text/javascript' }))));
  return url;
}
