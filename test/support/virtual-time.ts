import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';

interface Sleeper {
  at: number;
  wake: () => void;
}

type Send = Pick<DynamoDBDocumentClient, 'send'>;

/**
 * Simulated time for code that takes a clock and a sleep, run against a real (dynalite) table:
 * the clock stands still while anything is in flight, and jumps to the next sleeper's wake-up
 * time only when every actor is asleep or done. The outcome does not depend on how fast the
 * machine is, and a minute of simulated traffic takes a second.
 */
export class VirtualTime {
  private time: number;
  private readonly sleepers: Sleeper[] = [];
  private inFlight = 0;

  constructor(start = Date.parse('2026-03-02T09:00:00.000Z')) {
    this.time = start;
  }

  readonly now = (): number => this.time;

  readonly sleep = (ms: number): Promise<void> =>
    new Promise((wake) => {
      this.sleepers.push({ at: this.time + Math.max(0, ms), wake });
    });

  /** The client, counted: the clock does not move while one of its calls is in flight. */
  track(client: Send): Send {
    return {
      send: ((command: Parameters<Send['send']>[0]) => {
        this.inFlight++;
        return client.send(command).finally(() => {
          this.inFlight--;
        });
      }) as Send['send'],
    };
  }

  /** Moves the clock by hand (between runs), waking whoever is due. */
  advance(ms: number): void {
    this.time += ms;
    this.wakeDue();
  }

  /** Runs the actors to the end, moving the clock from one wake-up to the next. */
  async run<T>(actors: Promise<T>[]): Promise<T[]> {
    let ended = false;
    const all = Promise.all(actors).finally(() => {
      ended = true;
    });
    all.catch(() => undefined);
    while (!ended) {
      await new Promise((resolve) => setImmediate(resolve));
      await new Promise((resolve) => setImmediate(resolve));
      if (ended) break;
      if (this.inFlight > 0 || this.sleepers.length === 0) {
        await new Promise((resolve) => setTimeout(resolve, 1));
        continue;
      }
      const next = Math.min(...this.sleepers.map((sleeper) => sleeper.at));
      this.time = Math.max(this.time, next);
      this.wakeDue();
    }
    return all;
  }

  private wakeDue(): void {
    const due = this.sleepers.filter((sleeper) => sleeper.at <= this.time);
    for (const sleeper of due) this.sleepers.splice(this.sleepers.indexOf(sleeper), 1);
    for (const sleeper of due) sleeper.wake();
  }
}
