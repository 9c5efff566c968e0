import { anyOf, type Condition } from './conditions.js';

/**
 * The lease both submission protocols use (an item's in responses mode, a batch's in batch mode):
 * a record's `leaseUntil` (epoch ms) says one task invocation owns its submission until then. An
 * expired lease means the holder died, and another invocation may take the record over.
 */

/** No invocation holds a live lease on the record. */
export function leaseFree(nowMs: number): Condition {
  return anyOf(
    { expression: 'attribute_not_exists(leaseUntil)' },
    { expression: 'leaseUntil < :nowMs', values: { ':nowMs': nowMs } },
  );
}

/** The caller still holds the lease it was given. */
export function leaseHeld(lease: number): Condition {
  return { expression: 'leaseUntil = :lease', values: { ':lease': lease } };
}

/**
 * A claim that found the record done or leased by another invocation; `record` is what it met (undefined: no record).
 */
export class LeaseUnavailableError<T> extends Error {
  override readonly name = 'LeaseUnavailableError';

  constructor(
    message: string,
    readonly record: T | undefined,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}
