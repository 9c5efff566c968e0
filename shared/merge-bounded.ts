/**
 * Reads several async sources at once, at most `concurrency` of them at a time (each in order,
 * the next started when one ends), and yields their values as they arrive. Each active source
 * has its next value read while the consumer works on the one yielded: a page of read-ahead each.
 */
export async function* mergeBounded<T>(
  sources: readonly (() => AsyncIterator<T>)[],
  concurrency: number,
): AsyncGenerator<T> {
  type Pulled = { id: number; result: IteratorResult<T> };
  const waiting = [...sources];
  const active = new Map<number, { iterator: AsyncIterator<T>; next: Promise<Pulled> }>();
  let ids = 0;
  const pull = (id: number, iterator: AsyncIterator<T>): Promise<Pulled> =>
    iterator.next().then((result) => ({ id, result }));
  const startNext = () => {
    const source = waiting.shift();
    if (!source) return;
    const id = ids++;
    const iterator = source();
    active.set(id, { iterator, next: pull(id, iterator) });
  };
  try {
    while (active.size < Math.max(1, concurrency) && waiting.length > 0) startNext();
    while (active.size > 0) {
      const { id, result } = await Promise.race([...active.values()].map((source) => source.next));
      const source = active.get(id);
      if (!source) continue;
      if (result.done) {
        active.delete(id);
        startNext();
        continue;
      }
      source.next = pull(id, source.iterator);
      yield result.value;
    }
  } finally {
    // A consumer that stops early (or a source that failed) leaves reads in flight: not failures.
    for (const { iterator, next } of active.values()) {
      next.catch(() => undefined);
      void iterator.return?.()?.catch(() => undefined);
    }
  }
}
