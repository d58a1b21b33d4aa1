/**
 * The ages of entities' recent restarts, for their restart policies, measured so that a
 * step of the wall clock (an NTP step, an operator's `date`) moves none of them. Restarts
 * are journaled with their wall-clock time (`Entity.recentRestarts`, all a HAM that takes
 * over can read), and a window counted from wall-clock times moves with every step: set
 * back by an hour, old restarts stayed "within 10 s" for the hour and held the entity to its
 * limit; set forward, the window emptied at once.
 *
 * So a restart this HAM made keeps, beside its wall-clock time, its monotonic time
 * (volatile: this process's `Clock.monotonic`), and its age is counted on the monotonic
 * clock. A restart recorded before this HAM started (a previous HAM's, read at a start or a
 * takeover) is aged by the wall clock up to this HAM's start, and by the monotonic clock
 * after it; a time after that start, which only a step back before it can give, is taken as
 * made at the start. A step while this HAM runs moves no age; one while no HAM ran (or
 * between the death of a HAM and the takeover) still does, as it did.
 *
 * @module
 */

import type { Clock } from "../os/clock.ts";

/** The restart ages of one HAM's life (see the module's doc). */
export class RestartClock {
  #clock: Pick<Clock, "now" | "monotonic">;
  /** The wall clock and the monotonic one, read together when this HAM started. */
  #startWall: number;
  #startMono: number;
  /** By entity: the monotonic time of each restart this HAM made, by its journaled time. */
  #made = new Map<string, Map<number, number>>();

  /** Starts counting now: restarts recorded before are a previous HAM's. */
  constructor(clock: Pick<Clock, "now" | "monotonic">) {
    this.#clock = clock;
    this.#startWall = clock.now();
    this.#startMono = clock.monotonic();
  }

  /** Notes a restart of `entity` made now, journaled with the wall-clock time `at`. */
  made(entity: string, at: number): void {
    let made = this.#made.get(entity);
    if (made === undefined) this.#made.set(entity, made = new Map());
    made.set(at, this.#clock.monotonic());
  }

  /** Forgets `entity` (it was removed: a new one of that name has restarts of its own). */
  forget(entity: string): void {
    this.#made.delete(entity);
  }

  /**
   * The ages, in ms, of `entity`'s restarts journaled at the wall-clock times `recorded`,
   * in their order. Forgets what it kept of restarts no longer among them.
   */
  ages(entity: string, recorded: readonly number[]): number[] {
    const mono = this.#clock.monotonic();
    const sinceStart = mono - this.#startMono;
    const made = this.#made.get(entity);
    if (made !== undefined) {
      const kept = new Set(recorded);
      for (const at of made.keys()) if (!kept.has(at)) made.delete(at);
      if (made.size === 0) this.#made.delete(entity);
    }
    return recorded.map((at) => {
      const madeAt = made?.get(at);
      if (madeAt !== undefined) return mono - madeAt;
      return sinceStart + Math.max(0, this.#startWall - at);
    });
  }

  /**
   * `entity`'s restarts journaled at `recorded`, as times of the wall clock as it reads now
   * (now minus each one's age): what `decideRestart` counts its window and backoff from.
   */
  recent(entity: string, recorded: readonly number[]): number[] {
    const now = this.#clock.now();
    return this.ages(entity, recorded).map((age) => now - age);
  }
}
