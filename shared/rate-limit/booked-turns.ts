/**
 * The turns this process booked in the shared bucket and has not handed out yet, the demand its
 * callers announced, and the hand-over of booked turns from one invocation to a later one.
 */

/** Most turns one reservation carries (it travels in the Step Functions state). */
export const MAX_RESERVED_TURNS = 200;

/**
 * Turns booked in the shared bucket and not used yet, handed from one invocation to a later one
 * (through the Step Functions state) so a caller whose turns are far off waits for them in a
 * Wait state rather than in a Lambda. Valid while the bucket's epoch is the same (no 429 since).
 */
export interface Reservation {
  /** The provider key whose bucket the turns were booked in. */
  keyId: string;
  /** The bucket's epoch when they were booked. */
  epoch: number;
  /** When the epoch was last seen current (epoch ms). */
  checkedAt: number;
  /** Start of each turn (epoch ms), ascending. */
  at: number[];
  /** Tokens each turn was booked with. */
  tokens: number;
}

/** A caller's announcement of how many turns it will ask for, so chunks fit the demand. */
export interface Demand {
  /** One turn taken (take() calls it). */
  took(): void;
  /** Gives back the turns not taken. */
  done(): void;
  /** The latest turn handed to this demand so far (epoch ms), once one was. */
  readonly latestAt: number | undefined;
  /** Notes a turn handed out (take() calls it when it assigns a slot, before waiting for it). */
  assigned(at: number): void;
}

/** One chunk of turns booked in the shared bucket in one write. */
export interface Chunk {
  /** The bucket's epoch when the chunk was booked. */
  epoch: number;
  /** When this process last saw that epoch still current (the booking, or a later read). */
  checkedAt: number;
  /** Set once a read showed the epoch moved on: the chunk's turns are void. */
  void: boolean;
  /** The read under way that checks the epoch, shared by the chunk's turns. */
  checking?: Promise<boolean>;
}

/** One booked turn: a start time in a chunk. */
export interface Slot {
  at: number;
  tokens: number;
  /** How many 429s this process had seen when the slot was booked: a later one voids it. */
  penaltiesSeen: number;
  chunk: Chunk;
}

/** The process's booked turns, earliest first. */
export class BookedTurns {
  private slots: Slot[] = [];
  /** 429s this process saw: each drops every slot booked before it. */
  private penaltiesSeen = 0;
  /** Turns announced by callers' demands and not taken yet. */
  private demanded = 0;
  /** Slots handed to callers still waiting for them (not yet counted off their demand). */
  private awaited = 0;

  constructor(
    /** How long a slot stays usable after its start: the provider's budget refills anyway. */
    private readonly burstMs: number,
  ) {}

  /** How many more turns the callers want than this process holds or has handed out. */
  get wanted(): number {
    return this.demanded - this.slots.length - this.awaited;
  }

  /** Announces `count` upcoming turns; each turn taken with this demand counts against it. */
  expect(count: number): Demand {
    let left = Math.max(0, count);
    this.demanded += left;
    let latestAt: number | undefined;
    return {
      get latestAt() {
        return latestAt;
      },
      assigned: (at) => {
        latestAt = Math.max(latestAt ?? at, at);
      },
      took: () => {
        if (left > 0) {
          left--;
          this.demanded--;
        }
      },
      done: () => {
        this.demanded -= left;
        left = 0;
      },
    };
  }

  /** The earliest usable slot, after dropping the void and stale ones. */
  first(now: number): Slot | undefined {
    this.dropStale(now);
    return this.slots[0];
  }

  /** Hands the earliest slot (the one first() returned) to a caller, who waits for it until handedBack(). */
  handOut(): void {
    this.slots.shift();
    this.awaited++;
  }

  /** The caller's wait for a handed-out slot is over (used, void, or given back). */
  handedBack(): void {
    this.awaited--;
  }

  /** Whether a 429 since the booking, or a read of a newer epoch, voided the slot. */
  isVoid(slot: Slot): boolean {
    return slot.penaltiesSeen !== this.penaltiesSeen || slot.chunk.void;
  }

  /** Adds the turns of one chunk. */
  add(at: readonly number[], tokens: number, chunk: Chunk): void {
    const penaltiesSeen = this.penaltiesSeen;
    this.slots.push(...at.map((start) => ({ at: start, tokens, penaltiesSeen, chunk })));
    this.sortByStart();
  }

  /** A slot a stopping caller did not use: another caller of this process may. */
  giveBack(slot: Slot): void {
    this.slots.push(slot);
    this.sortByStart();
  }

  /** A 429: every slot booked so far is void. */
  dropAfterPenalty(): void {
    this.penaltiesSeen++;
    this.slots = [];
  }

  /**
   * Gives up the slots not handed to a caller, for a later invocation to take over (at most
   * MAX_RESERVED_TURNS, of the earliest chunk's epoch); undefined when none.
   */
  release(keyId: string, now: number): Reservation | undefined {
    const first = this.first(now);
    if (!first) return undefined;
    const kept = this.slots.filter((slot) => slot.chunk.epoch === first.chunk.epoch).slice(0, MAX_RESERVED_TURNS);
    this.slots = [];
    const checkedAt = Math.max(...kept.map((slot) => slot.chunk.checkedAt));
    // Whole milliseconds, rounded up (never earlier than booked): it travels in the state.
    return {
      keyId,
      epoch: first.chunk.epoch,
      checkedAt,
      at: kept.map((slot) => Math.ceil(slot.at)),
      tokens: first.tokens,
    };
  }

  /** Takes over the turns of a reservation of this key; a turn already past is dropped. */
  takeOver(keyId: string, reservation: Reservation | undefined, now: number): void {
    if (!reservation || reservation.keyId !== keyId || reservation.at.length === 0) return;
    this.add(reservation.at, reservation.tokens, {
      epoch: reservation.epoch,
      checkedAt: reservation.checkedAt,
      void: false,
    });
    this.dropStale(now);
  }

  /** Void slots, and slots older than a burst (the provider's budget refilled anyway), go. */
  private dropStale(now: number): void {
    const oldest = now - this.burstMs;
    const stale = (slot: Slot) => this.isVoid(slot) || slot.at < oldest;
    if (this.slots.some(stale)) this.slots = this.slots.filter((slot) => !stale(slot));
  }

  private sortByStart(): void {
    this.slots.sort((a, b) => a.at - b.at);
  }
}
