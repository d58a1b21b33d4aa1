/**
 * Heartbeat accounting of the engine: counts each heartbeating entity's periods without a
 * beat, journals health changes and fires the heartbeat conditions.
 *
 * One timer serves every entity: period ends wait in a heap ordered by time, and the
 * timer sleeps until the earliest; when it wakes it handles every period that has ended.
 * (One sleeping loop per entity cost a timer, a promise and an abort listener per entity
 * and period: at 1,000 entities with 200 ms periods, 5,000 of each a second.)
 *
 * Beats come two ways: over the socket ({@linkcode HeartbeatMonitor.seen}), and through a
 * heartbeat slot (`lib/core/heartbeat_slot.ts`) that the monitor reads at each period end
 * (for the period's mark, and the last beat). A slot is armed with the accounting's origin and
 * period whenever the accounting (re)starts, and revoked when it ends: at once when the
 * entity is detached, removed or its process is gone ({@linkcode HeartbeatMonitor.touched}),
 * so the next beat goes over the socket and gets the HAM's answer.
 *
 * Periods are wall-clock times, as the beats' stamps are (a beating process marks its slot
 * by its own `Date.now()`). When the wall clock is set (NTP stepping it, an operator's
 * `date`), every accounting starts again from the new time: counted as it was, a step
 * forward of an hour was an hour of missed periods (and a synchronous loop through each),
 * and a step back left the timer asleep for an hour. The timer's waits are monotonic; a
 * step shows as the wall clock moving more or less than the monotonic one over a wait.
 *
 * @module
 */

import { DEFAULTS } from "../core/defaults.ts";
import { periodEnd, tick } from "../core/heartbeat.ts";
import {
  type BeatSlot,
  periodIndexEnding,
  slotLastBeat,
  slotSeen,
} from "../core/heartbeat_slot.ts";
import type { EngineParts } from "./seams.ts";

/** What {@linkcode HeartbeatMonitor} may do. */
export type HeartbeatParts = Pick<EngineParts, "journal" | "life" | "events" | "clock" | "log">;

/** The accounting of one entity. */
interface Beat {
  name: string;
  /** Periods count from here. */
  origin: number;
  /** The end of the current period. */
  end: number;
  /** The current period (the one ending at `end`) has seen a beat. */
  seen: boolean;
  /**
   * The ends of later periods that have seen a beat, earliest first: a beat that arrives
   * after `end` while the timer is late counts in its own period, not the ended one (else
   * a late timer makes a beating entity miss the next period).
   */
  ahead: number[];
  /** What the journal says of missed, so a reset is journaled only when it holds a count. */
  journaledMissed: number;
  /** False once replaced or stopped: left in the heap, skipped when it comes up. */
  live: boolean;
}

/** The heartbeat accounting of all entities, on one timer. */
export class HeartbeatMonitor {
  #ctx: HeartbeatParts;
  #beats = new Map<string, Beat>();
  /** The slots of entities that beat through one, by entity. */
  #slots = new Map<string, BeatSlot>();
  /** Period ends, earliest first (a binary heap on `end`). */
  #heap: Beat[] = [];
  /** The timer loop runs. */
  #running = false;
  /** Aborts the loop's sleep: to wake earlier (a new earliest end) or to stop. */
  #rearm = new AbortController();
  /** The end the loop sleeps until (Infinity when not sleeping). */
  #sleepingUntil = Infinity;

  /** Creates a monitor with no entity. */
  constructor(ctx: HeartbeatParts) {
    this.#ctx = ctx;
  }

  /** Notes a beat at time `at` in the period that holds it. */
  seen(name: string, at: number): void {
    const b = this.#beats.get(name);
    if (!b) return;
    if (at < b.end) {
      b.seen = true;
      return;
    }
    // The timer has not yet handled the end of the current period: the beat is the next
    // period's (or a later one's, when the timer is late by several periods).
    const spec = this.#ctx.journal.state.entities.get(name)?.heartbeat;
    if (!spec) return;
    const end = periodEnd(b.origin, spec.periodMs, at);
    if (b.ahead.at(-1) === end) return;
    if (b.ahead.length >= DEFAULTS.heartbeatPeriodsAhead) b.ahead.shift();
    b.ahead.push(end);
  }

  /** True while `name`'s periods are counted. */
  counting(name: string): boolean {
    return this.#beats.has(name) && !!this.#ctx.journal.state.entities.get(name)?.heartbeat;
  }

  /**
   * Gives `name` a heartbeat slot (replacing and revoking the one it had), armed for its
   * current accounting. False, and the slot left alone, when `name` has no accounting
   * running (it does not heartbeat, or is dead).
   */
  setSlot(name: string, slot: BeatSlot): boolean {
    const b = this.#beats.get(name);
    const spec = this.#ctx.journal.state.entities.get(name)?.heartbeat;
    if (!b || !spec) return false;
    const old = this.#slots.get(name);
    if (old && old !== slot) old.revoke();
    this.#slots.set(name, slot);
    slot.arm(b.origin, spec.periodMs);
    return true;
  }

  /** Forgets `name`'s slot if it is `slot` (its file is closing), without revoking it. */
  dropSlot(name: string, slot: BeatSlot): void {
    if (this.#slots.get(name) === slot) this.#slots.delete(name);
  }

  /**
   * A record changed `name`: when it no longer has an accounting to count (removed, its
   * process gone, its heartbeat dropped), the accounting ends now and its slot is revoked,
   * rather than at the current period's end.
   */
  touched(name: string): void {
    if (!this.#beats.has(name) && !this.#slots.has(name)) return;
    const e = this.#ctx.journal.state.entities.get(name);
    if (!e || e.pid === null || !e.heartbeat) this.stop(name);
  }

  /**
   * Ends `name`'s accounting now (it is being detached, or is gone) and revokes its slot:
   * the next beat through the slot goes over the socket. A later {@linkcode start} counts
   * afresh.
   */
  stop(name: string): void {
    const b = this.#beats.get(name);
    if (b) {
      b.live = false; // Left in the heap, skipped when it comes up.
      this.#beats.delete(name);
    }
    this.#endSlot(name);
  }

  /** Stops the accounting of every entity. */
  stopAll(): void {
    for (const b of this.#beats.values()) b.live = false;
    this.#beats.clear();
    for (const slot of this.#slots.values()) slot.revoke();
    this.#slots.clear();
    this.#heap = [];
    this.#rearm.abort();
  }

  /**
   * Starts (or restarts) an entity's heartbeat accounting; periods count from now plus
   * `graceMs` (a restarted self-attached process gets `DEFAULTS.restartHeartbeatGraceMs`
   * to start and attach itself again; its re-attach starts the accounting afresh).
   */
  start(name: string, graceMs = 0): void {
    const ctx = this.#ctx;
    const old = this.#beats.get(name);
    if (old) old.live = false;
    this.#beats.delete(name);
    const e = ctx.journal.state.entities.get(name);
    if (!e || e.pid === null || !e.heartbeat || ctx.life.stopped) {
      this.#endSlot(name);
      return;
    }
    const origin = ctx.clock.now() + graceMs;
    const beat: Beat = {
      name,
      origin,
      end: periodEnd(origin, e.heartbeat.periodMs, origin),
      seen: false,
      ahead: [],
      journaledMissed: e.hbMissed ?? 0,
      live: true,
    };
    this.#beats.set(name, beat);
    this.#slots.get(name)?.arm(origin, e.heartbeat.periodMs);
    this.#push(beat);
    if (!this.#running) {
      this.#running = true;
      ctx.life.track(this.#run());
    } else if (beat.end < this.#sleepingUntil) {
      this.#rearm.abort(); // Wake to sleep until this earlier end instead.
    }
  }

  /** Sleeps until the earliest period end, handles every ended period, and again. */
  async #run(): Promise<void> {
    const ctx = this.#ctx;
    try {
      while (this.#heap.length > 0 && !ctx.life.stopped) {
        const first = this.#heap[0];
        if (!first.live) {
          this.#pop();
          continue;
        }
        if (this.#rearm.signal.aborted) this.#rearm = new AbortController();
        this.#sleepingUntil = first.end;
        const wall = ctx.clock.now();
        const mono = ctx.clock.monotonic();
        await ctx.clock.sleep(first.end - wall, this.#rearm.signal);
        this.#sleepingUntil = Infinity;
        if (this.#clockStepped(wall, mono)) continue;
        const now = ctx.clock.now();
        // Each ended period in order of its end: an entity late by several periods has
        // each of them counted. At most `heartbeatTurnMs` of it at a time: then the loop
        // sleeps 0 ms (a turn of the event loop) and goes on, so that requests and deaths
        // are served even when more periods end than this HAM can count (10,000 entities
        // beating every ms held it for seconds: its attaches timed out).
        let handled = 0;
        while (this.#heap.length > 0 && this.#heap[0].end <= now && !ctx.life.stopped) {
          if (++handled % 256 === 0 && ctx.clock.now() - now >= DEFAULTS.heartbeatTurnMs) break;
          const b = this.#pop();
          if (!b.live) continue;
          if (this.#periodEnded(b)) this.#push(b);
          else {
            b.live = false;
            if (this.#beats.get(b.name) === b) {
              this.#beats.delete(b.name);
              this.#endSlot(b.name);
            }
          }
        }
      }
    } finally {
      // In the same turn as the loop's end: a start() after it starts the loop again.
      this.#running = false;
    }
  }

  /**
   * True when the wall clock was set since `wall` and `mono` were read together: then every
   * accounting has started again from now (what the periods since saw is not known), an
   * entity in its grace (a restarted self-attached one) keeping what is left of it.
   */
  #clockStepped(wall: number, mono: number): boolean {
    const ctx = this.#ctx;
    const waited = ctx.clock.monotonic() - mono;
    const step = ctx.clock.now() - wall - waited;
    if (Math.abs(step) <= DEFAULTS.clockStepMs + Math.abs(waited) / 1000) return false;
    ctx.log.log(
      "warn",
      `The wall clock was set ${step > 0 ? "forward" : "back"} by ${
        Math.round(Math.abs(step))
      } ms: heartbeat periods count again from now`,
    );
    // Now, as the clock read before it was set.
    const before = wall + waited;
    for (const [name, b] of [...this.#beats]) this.start(name, Math.max(0, b.origin - before));
    return true;
  }

  /**
   * The end of `b`'s current period: counts it, journals a transition, fires conditions,
   * and moves `b` to its next period. False when the accounting ends (the entity is gone,
   * dead, or no longer heartbeats).
   */
  #periodEnded(b: Beat): boolean {
    const ctx = this.#ctx;
    const name = b.name;
    const cur = ctx.journal.state.entities.get(name);
    if (!cur || cur.pid === null || !cur.heartbeat) return false;
    const spec = cur.heartbeat;
    const end = b.end;
    b.end = periodEnd(b.origin, spec.periodMs, end);
    let seen = b.seen;
    const slot = this.#slots.get(name);
    if (slot) {
      const v = slot.read();
      if (v !== null) {
        seen ||= slotSeen(v, periodIndexEnding(b.origin, spec.periodMs, end));
        const last = slotLastBeat(v, cur.lastBeat, ctx.clock.now());
        if (last !== null) cur.lastBeat = last; // Volatile by design: see Entity.lastBeat.
      }
    }
    // The next period starts with the beats that arrived in it before this end was handled.
    while (b.ahead.length > 0 && b.ahead[0] < b.end) b.ahead.shift();
    b.seen = b.ahead[0] === b.end;
    if (b.seen) b.ahead.shift();
    if (!cur.enabled) return true;
    const r = tick(spec, { missed: cur.hbMissed, health: cur.hbHealth }, seen);
    // Transitions are journaled, not ticks: a change of health, or missed going back to
    // 0. The count in between is volatile like lastBeat (a takeover counts on from the
    // last transition), so an entity that never beats writes a record per threshold,
    // not one per period.
    const transition = r.next.health !== cur.hbHealth ||
      (r.next.missed === 0 && b.journaledMissed !== 0);
    if (transition) {
      b.journaledMissed = r.next.missed;
      void ctx.journal.record([{
        t: "heartbeat",
        entity: name,
        missed: r.next.missed,
        health: r.next.health,
        lastBeat: cur.lastBeat,
      }]);
    } else {
      cur.hbMissed = r.next.missed; // Volatile by design: see Entity.hbMissed.
    }
    for (const type of r.fire) {
      ctx.events.emit({
        type: "heartbeat",
        entity: name,
        // The period end that crossed and the last beat (ms since the epoch): the crossing
        // itself, whatever the timer's lateness in firing it.
        detail: { condition: type, missed: r.next.missed, periodEnd: end, lastBeat: cur.lastBeat },
      });
      ctx.life.track(ctx.events.fire({ type, entity: name }));
    }
    return true;
  }

  /** The accounting of `name` ended: its slot is revoked (its process beats over the socket). */
  #endSlot(name: string): void {
    const slot = this.#slots.get(name);
    if (!slot) return;
    slot.revoke();
    this.#slots.delete(name);
  }

  #push(b: Beat): void {
    const h = this.#heap;
    h.push(b);
    let i = h.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (h[parent].end <= b.end) break;
      h[i] = h[parent];
      i = parent;
    }
    h[i] = b;
  }

  #pop(): Beat {
    const h = this.#heap;
    const top = h[0];
    const last = h.pop()!;
    if (h.length > 0) {
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        if (l >= h.length) break;
        const r = l + 1;
        const c = r < h.length && h[r].end < h[l].end ? r : l;
        if (h[c].end >= last.end) break;
        h[i] = h[c];
        i = c;
      }
      h[i] = last;
    }
    return top;
  }
}
