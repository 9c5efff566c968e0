import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { scaledClock, type Clock } from '../../shared/clock.js';

/** How often (wall ms) a data dir's clock notes how far it has come. */
const SAVE_EVERY_MS = 250;
const CLOCK_FILE = 'clock.json';

/**
 * The stack's clock when its data outlives the process. A faster-than-wall clock (the mock's
 * time scale) is ahead of the wall clock by the time it has run, and the records it wrote carry
 * its times (leases, rate-limit turns, timestamps): a clock that went back to the wall clock's
 * now on the next start would find them in its future. So it starts where the last process left
 * off (at most one save interval of its time later), and notes its time as it runs.
 */
export function dataDirClock(dataDir: string, timeScale: number): { clock: Clock; stop: () => void } {
  const path = join(dataDir, CLOCK_FILE);
  const saved = readSaved(path);
  const start = saved === undefined ? Date.now() : Math.max(Date.now(), saved + SAVE_EVERY_MS * timeScale);
  const clock = timeScale === 1 ? scaledClock(1) : scaledClock(timeScale, undefined, start);
  // Written aside and renamed: a process killed mid-write leaves the last whole note.
  const save = () => {
    writeFileSync(`${path}.next`, JSON.stringify({ localTime: clock.now().getTime() }));
    renameSync(`${path}.next`, path);
  };
  save();
  const timer = setInterval(save, SAVE_EVERY_MS);
  timer.unref();
  return {
    clock,
    stop: () => {
      clearInterval(timer);
      save();
    },
  };
}

function readSaved(path: string): number | undefined {
  try {
    const { localTime } = JSON.parse(readFileSync(path, 'utf8')) as { localTime?: unknown };
    return typeof localTime === 'number' ? localTime : undefined;
  } catch {
    return undefined;
  }
}
