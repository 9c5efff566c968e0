import { mulberry32 } from './outcomes.js';

/** The slowest sample, as a multiple of the median: keeps the log-normal tail bounded. */
const MAX_FACTOR = 10;

/**
 * One latency from a log-normal distribution with the given median and spread (sigma), from two
 * uniform draws (Box-Muller). Spread 0 gives the median itself.
 */
export function logNormalMs(medianMs: number, spread: number, u1: number, u2: number): number {
  if (medianMs <= 0) return 0;
  if (spread <= 0) return medianMs;
  const z = Math.sqrt(-2 * Math.log(1 - u1)) * Math.cos(2 * Math.PI * u2);
  return Math.min(medianMs * Math.exp(spread * z), medianMs * MAX_FACTOR);
}

/** Seeded latency samples: the n-th call of a run always gets the same latency. */
export class LatencyModel {
  private sequence = 0;

  constructor(
    private readonly seed: number,
    private readonly medianMs: number,
    private readonly spread: number,
  ) {}

  /** The next latency (simulated ms). */
  next(): number {
    this.sequence += 1;
    const random = mulberry32((Math.imul(this.seed, 0x9e3779b1) ^ Math.imul(this.sequence, 0x85ebca6b)) >>> 0);
    random();
    return logNormalMs(this.medianMs, this.spread, random(), random());
  }
}
