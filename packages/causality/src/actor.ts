/**
 * Actors and dots: the names of events.
 *
 * An actor is a region with its incarnation epoch, `"<region>.<epoch>"` (e.g. `"eu.1"`). Never a
 * client id: the number of actors in a vector must stay bounded by the number of regions (client
 * ids are what made Riak's vectors and siblings explode). A region restored from a backup may
 * have lost the dots it minted after the backup; it comes back with a new epoch, so it never
 * mints the same dot twice.
 *
 * A dot `(actor, counter)` names exactly one event (one write) forever. Invariants:
 * - region matches /^[a-z][a-z0-9-]{0,31}$/ (no dot, no colon: so `parseActor` splits at the
 *   only '.', and `dotKey`'s ':' is unambiguous);
 * - epoch is a positive safe integer written in canonical decimal (no leading zeros, no sign), so
 *   one (region, epoch) has exactly one ActorId string;
 * - counter is a positive safe integer.
 * The total order on dots (`compareDots`) is by actor string in UTF-16 code-unit order (not by
 * region then numeric epoch: "eu.10" < "eu.2"), then by counter. Every sorted list in this
 * package uses that one order, and the binary encodings rely on it being canonical.
 */
import { CausalityError, CausalityErrorCode, describeValue } from './causality-error.ts';

export type ActorId = string;

export interface Dot {
  readonly actor: ActorId;
  readonly counter: number;
}

const REGION = /^[a-z][a-z0-9-]{0,31}$/;
const ACTOR = /^([a-z][a-z0-9-]{0,31})\.([1-9][0-9]{0,15})$/;

/** Builds the actor id of `region` in incarnation `epoch`; throws a CausalityError if either is invalid. */
export function actorId(region: string, epoch: number): ActorId {
  if (typeof region !== 'string' || !REGION.test(region)) {
    throw new CausalityError(
      CausalityErrorCode.InvalidActor,
      `invalid region: expected 1-32 characters matching /^[a-z][a-z0-9-]{0,31}$/ (got ${describeValue(region)})`,
    );
  }
  if (!Number.isSafeInteger(epoch) || epoch < 1) {
    throw new CausalityError(CausalityErrorCode.InvalidActor, `invalid epoch: expected a positive safe integer (got ${describeValue(epoch)})`);
  }
  return `${region}.${epoch}`;
}

/** Splits an actor id into region and epoch; throws a CausalityError if it is not canonical. */
export function parseActor(actor: ActorId): { region: string; epoch: number } {
  const match = typeof actor === 'string' ? ACTOR.exec(actor) : null;
  const epoch = match ? Number(match[2]) : NaN;
  if (!match || !Number.isSafeInteger(epoch)) {
    throw new CausalityError(
      CausalityErrorCode.InvalidActor,
      `invalid actor id: expected "<region>.<epoch>" such as "eu.1" (got ${describeValue(actor)})`,
    );
  }
  return { region: match[1] ?? '', epoch };
}

/** True iff `value` is a canonical actor id. */
export function isActorId(value: unknown): value is ActorId {
  if (typeof value !== 'string') return false;
  const match = ACTOR.exec(value);
  return match !== null && Number.isSafeInteger(Number(match[2]));
}

/** Throws unless `actor` is a canonical actor id; returns it for chaining. */
export function checkActor(actor: unknown): ActorId {
  if (!isActorId(actor)) parseActor(actor as string);
  return actor as ActorId;
}

/** Throws unless `counter` is a safe integer >= `min` (1 for dots, 0 for vector entries). */
export function checkCounter(counter: unknown, min: 0 | 1, what: string): number {
  if (typeof counter !== 'number' || !Number.isSafeInteger(counter) || counter < min) {
    throw new CausalityError(
      CausalityErrorCode.InvalidCounter,
      `invalid ${what}: expected a safe integer >= ${min} (got ${describeValue(counter)})`,
    );
  }
  return counter;
}

/** Builds a validated, frozen dot. */
export function dot(actor: ActorId, counter: number): Dot {
  return Object.freeze({ actor: checkActor(actor), counter: checkCounter(counter, 1, 'dot counter') });
}

/** Actor ids in the package's one order: UTF-16 code units, as `<` on strings. */
export function compareActors(a: ActorId, b: ActorId): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** The total order on dots: actor (code-unit string order), then counter. */
export function compareDots(a: Dot, b: Dot): number {
  return compareActors(a.actor, b.actor) || (a.counter < b.counter ? -1 : a.counter > b.counter ? 1 : 0);
}

/** `${actor}:${counter}`: injective, because an actor id never contains ':'. */
export function dotKey(d: Dot): string {
  return `${d.actor}:${d.counter}`;
}
