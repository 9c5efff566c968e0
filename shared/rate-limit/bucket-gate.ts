import type { BucketState } from './bucket.js';

/**
 * What the limiters of one provider key in one process share about its bucket item: the state
 * last read or written, and a turn at the read-modify-write. On Lambda a process runs one
 * invocation, so this changes nothing; the local runtime runs every invocation in one process,
 * where 50 limiters racing on the item lost almost every conditional write (about 17,000
 * conflicts for 5,000 requests) and each retry read the item again. Taking turns, every
 * booking computes from the state the previous one wrote and writes once. Writers in other
 * processes still race, and the conditional write still settles it.
 */
export class BucketGate {
  /** The bucket as any limiter of the key in this process last read or wrote it. */
  state: BucketState | undefined;
  private tail: Promise<unknown> = Promise.resolve();

  /** Runs `work` once the read-modify-writes queued before it have ended. */
  exclusive<T>(work: () => Promise<T>): Promise<T> {
    const run = this.tail.then(work, work);
    this.tail = run.catch(() => undefined);
    return run;
  }
}

/** One gate per process-wide share (the limiters' `observed` limits object), else one per limiter. */
const gates = new WeakMap<object, BucketGate>();

export function bucketGateOf(share: object | undefined): BucketGate {
  if (!share) return new BucketGate();
  let gate = gates.get(share);
  if (!gate) gates.set(share, (gate = new BucketGate()));
  return gate;
}
