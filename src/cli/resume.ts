/**
 * --resume: a run's settings are its flags, stored in the checkpoint (training.flags). A resumed
 * run takes every stored flag back; a flag given again must agree with it, except the few a
 * resumed run may change (RESUME_OVERRIDES). So the optimizer, schedule, seeds, data split and
 * model are the interrupted run's, and a contradiction is an error naming both values.
 */
import { resolve } from 'node:path';
import type { FlagValue } from '../checkpoint/metadata.js';
import { UsageError, type Flags } from './args.js';

/**
 * Flags a resumed run may change: a new base learning rate from the resume point on, the total
 * number of epochs to reach, and where the data files now are (the checkpoint's encoder and
 * split seed still decide how their rows are read and split).
 */
export const RESUME_OVERRIDES: readonly string[] = ['lr', 'epochs', 'train', 'test'];

/** Flags about one invocation (where it writes, how it shows progress, the GEMM variant's choice), never stored. */
const PER_INVOCATION: readonly string[] = ['resume', 'out', 'quiet', 'help', 'device', 'threads', 'tuning'];

/** The flags a checkpoint keeps: every setting of the run, with file paths made absolute. */
export function storedFlags(flags: Flags): Record<string, FlagValue> {
  const stored: Record<string, FlagValue> = {};
  for (const [name, value] of Object.entries(flags)) {
    if (value === undefined || PER_INVOCATION.includes(name)) continue;
    stored[name] = (name === 'train' || name === 'test') && typeof value === 'string' ? resolve(value) : value;
  }
  return stored;
}

const show = (v: FlagValue | undefined) => (v === undefined ? '(not set)' : typeof v === 'boolean' ? String(v) : JSON.stringify(v));

function same(a: FlagValue | undefined, b: FlagValue | undefined): boolean {
  if (typeof a === 'string' && typeof b === 'string' && a.trim() !== '' && b.trim() !== '' && Number.isFinite(Number(a)) && Number.isFinite(Number(b))) return Number(a) === Number(b);
  return JSON.stringify(a) === JSON.stringify(b);
}

/** The flags of a resumed run: the stored ones, with the overrides the command line gives; a contradiction is an error. */
export function resumeFlags(flags: Flags, given: Set<string>, stored: Record<string, FlagValue>, source: string): Flags {
  const merged: Record<string, FlagValue | undefined> = { ...flags };
  for (const name of given) {
    if (PER_INVOCATION.includes(name) || RESUME_OVERRIDES.includes(name)) continue;
    const mine = (flags as Record<string, FlagValue | undefined>)[name];
    if (!same(mine, stored[name])) {
      throw new UsageError(
        `--${name} ${show(mine)} contradicts the checkpoint ${source}, whose run had --${name} ${show(stored[name])}; ` +
          `a resumed run keeps its settings (leave --${name} out); only ${RESUME_OVERRIDES.map((f) => `--${f}`).join(', ')} may change`,
      );
    }
  }
  // What the command line leaves out comes from the checkpoint (a flag it lacks keeps its default).
  for (const [name, value] of Object.entries(stored)) {
    if (!given.has(name) && !PER_INVOCATION.includes(name)) merged[name] = value;
  }
  return merged as Flags;
}
