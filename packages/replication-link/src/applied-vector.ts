/**
 * The applied vector of one origin (DESIGN §4): the highest sequence S such that every update
 * <= S from that origin has been applied here, plus the sequences applied above it. Updates of
 * one origin arrive through several partitions in any order; a sequence is applied once, and
 * the contiguous prefix advances only over a complete run — so "applied up to S" means exactly
 * that, and an update at or below it is a duplicate to drop.
 *
 * The outbox id beside each sequence lets sessions (positions are outbox ids) be answered: the
 * relay publishes in outbox-id order, so having applied every sequence up to S means having
 * every outbox id up to S's.
 *
 * Cost: `has` is one comparison and one hash lookup; `mark` is amortised O(1) (each sequence
 * enters the set above the prefix once and leaves it once, when the prefix passes it). The row
 * form (`toRow`, its `beyond` sorted) is built once per apply transaction, for saving. Pure:
 * the region service loads and saves the rows.
 */

/** A vector's stored form (the store's `AppliedRow` has this shape). */
export interface AppliedRow {
  readonly origin: string;
  readonly region: string;
  readonly contiguous: bigint;
  readonly contiguousOutboxId: bigint;
  /** Sequences applied above `contiguous`, with their outbox ids, ascending. */
  readonly beyond: readonly (readonly [bigint, bigint])[];
}

export class AppliedVector {
  readonly origin: string;
  readonly region: string;
  #contiguous: bigint;
  #contiguousOutboxId: bigint;
  /** Sequences applied above the prefix → their outbox ids. */
  readonly #beyond = new Map<bigint, bigint>();
  #changed = false;

  private constructor(row: AppliedRow) {
    this.origin = row.origin;
    this.region = row.region;
    this.#contiguous = row.contiguous;
    this.#contiguousOutboxId = row.contiguousOutboxId;
    for (const [sequence, outboxId] of row.beyond) if (sequence > row.contiguous) this.#beyond.set(sequence, outboxId);
    this.#advance();
    this.#changed = false;
  }

  static fromRow(row: AppliedRow): AppliedVector {
    return new AppliedVector(row);
  }

  static empty(origin: string, region: string): AppliedVector {
    return new AppliedVector({ origin, region, contiguous: 0n, contiguousOutboxId: 0n, beyond: [] });
  }

  get contiguous(): bigint {
    return this.#contiguous;
  }

  get contiguousOutboxId(): bigint {
    return this.#contiguousOutboxId;
  }

  /** How many sequences are applied above the contiguous prefix. */
  get beyondSize(): number {
    return this.#beyond.size;
  }

  /** Whether anything was marked since this vector was loaded (it then needs saving). */
  get changed(): boolean {
    return this.#changed;
  }

  has(sequence: bigint): boolean {
    return sequence <= this.#contiguous || this.#beyond.has(sequence);
  }

  /** Marks `sequence` applied and advances the contiguous prefix over every complete run; false when it already was. */
  mark(sequence: bigint, outboxId: bigint): boolean {
    if (this.has(sequence)) return false;
    this.#beyond.set(sequence, outboxId);
    this.#changed = true;
    this.#advance();
    return true;
  }

  /**
   * A reseed's jump: every sequence up to `sequence` (outbox id `outboxId`) counts as applied —
   * the repair merged the peer's state that holds them. Never lowers the prefix; the sequences
   * applied above it stay (and the prefix then runs over them when they follow on).
   */
  coverUpTo(sequence: bigint, outboxId: bigint): void {
    if (sequence <= this.#contiguous) return;
    this.#contiguous = sequence;
    this.#contiguousOutboxId = outboxId > this.#contiguousOutboxId ? outboxId : this.#contiguousOutboxId;
    for (const s of [...this.#beyond.keys()]) if (s <= sequence) this.#beyond.delete(s);
    this.#changed = true;
    this.#advance();
  }

  /** The stored form: `beyond` ascending by sequence. */
  toRow(): AppliedRow {
    const beyond = [...this.#beyond].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return { origin: this.origin, region: this.region, contiguous: this.#contiguous, contiguousOutboxId: this.#contiguousOutboxId, beyond };
  }

  #advance(): void {
    for (let next = this.#beyond.get(this.#contiguous + 1n); next !== undefined; next = this.#beyond.get(this.#contiguous + 1n)) {
      this.#beyond.delete(this.#contiguous + 1n);
      this.#contiguous += 1n;
      this.#contiguousOutboxId = next;
    }
  }
}
