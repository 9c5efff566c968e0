/**
 * Create calls counted per item key. A key that is a SHA-256 in hex (the product's
 * Idempotency-Key) is counted under its first 12 hex digits as a 48-bit number, in an
 * open-addressing table over typed arrays: 12 bytes a slot, 2 to 4 slots a key, where a Map of
 * 12-character strings cost about 70 bytes a key and the GC walked every entry. A clash among a million
 * items is about 0.002 likely. Any other key (a batch line's custom_id) is kept whole in a Map.
 */

const SHA256_HEX = /^[0-9a-f]{64}$/;
const PREFIX_DIGITS = 12;

export class CreateCounts {
  /** Key + 1 per slot (0: empty); 48-bit keys are exact in a double. */
  private keys = new Float64Array(1024);
  private counts = new Uint32Array(1024);
  private hashed = 0;
  private readonly others = new Map<string, number>();

  get size(): number {
    return this.hashed + this.others.size;
  }

  /** Counts one create under `itemKey`; returns that key's count now. */
  add(itemKey: string): number {
    if (!SHA256_HEX.test(itemKey)) {
      const count = (this.others.get(itemKey) ?? 0) + 1;
      this.others.set(itemKey, count);
      return count;
    }
    if ((this.hashed + 1) * 2 > this.keys.length) this.grow();
    const stored = Number.parseInt(itemKey.slice(0, PREFIX_DIGITS), 16) + 1;
    const slot = this.slotOf(stored);
    if (this.keys[slot] === 0) {
      this.keys[slot] = stored;
      this.hashed++;
    }
    this.counts[slot] = (this.counts[slot] ?? 0) + 1;
    return this.counts[slot] ?? 0;
  }

  /** Every key and its count: a hashed key as its 12-digit prefix (`createsKey`). */
  entries(): Map<string, number> {
    const all = new Map(this.others);
    for (let slot = 0; slot < this.keys.length; slot++) {
      const stored = this.keys[slot] ?? 0;
      if (stored !== 0) all.set((stored - 1).toString(16).padStart(PREFIX_DIGITS, '0'), this.counts[slot] ?? 0);
    }
    return all;
  }

  /** The slot holding `stored`, or the empty slot where it goes (linear probing; the low bits are a hash's). */
  private slotOf(stored: number): number {
    const mask = this.keys.length - 1;
    let slot = stored % this.keys.length;
    while (this.keys[slot] !== 0 && this.keys[slot] !== stored) slot = (slot + 1) & mask;
    return slot;
  }

  private grow(): void {
    const { keys, counts } = this;
    this.keys = new Float64Array(keys.length * 2);
    this.counts = new Uint32Array(keys.length * 2);
    for (let slot = 0; slot < keys.length; slot++) {
      const stored = keys[slot] ?? 0;
      if (stored === 0) continue;
      const target = this.slotOf(stored);
      this.keys[target] = stored;
      this.counts[target] = counts[slot] ?? 0;
    }
  }
}

/** The key `CreateCounts.entries` lists an item's creates under. */
export function createsKey(itemKey: string): string {
  return SHA256_HEX.test(itemKey) ? itemKey.slice(0, PREFIX_DIGITS) : itemKey;
}
