/**
 * Heartbeat accounting of the engine: one timer loop per heartbeating entity that counts
 * the periods without a beat, journals health changes and fires the heartbeat conditions.
 *
 * @module
 */

import { periodEnd, tick } from "../core/heartbeat.ts";
import type { EngineParts } from "./seams.ts";

/** What {@linkcode HeartbeatMonitor} may do. */
export type HeartbeatParts = Pick<EngineParts, "journal" | "life" | "events" | "clock">;

/** The heartbeat timers of all entities. */
export class HeartbeatMonitor {
  #ctx: HeartbeatParts;
  #beats = new Map<string, { seen: boolean; stop: AbortController; journaledMissed: number }>();

  /** Creates a monitor with no timers running. */
  constructor(ctx: HeartbeatParts) {
    this.#ctx = ctx;
  }

  /** Notes that an entity's current period has seen a beat. */
  seen(name: string): void {
    const b = this.#beats.get(name);
    if (b) b.seen = true;
  }

  /** Stops every timer. */
  stopAll(): void {
    for (const b of this.#beats.values()) b.stop.abort();
    this.#beats.clear();
  }

  /**
   * Starts (or restarts) an entity's heartbeat accounting; periods count from now plus
   * `graceMs` (a restarted self-attached process gets `DEFAULTS.restartHeartbeatGraceMs`
   * to start and attach itself again; its re-attach starts the accounting afresh).
   */
  start(name: string, graceMs = 0): void {
    const ctx = this.#ctx;
    this.#beats.get(name)?.stop.abort();
    const stop = new AbortController();
    // What the journal says of missed (a replay's value), so a reset is journaled only when
    // the journal holds a count to reset.
    const beat = {
      seen: false,
      stop,
      journaledMissed: ctx.journal.state.entities.get(name)?.hbMissed ?? 0,
    };
    this.#beats.set(name, beat);
    const origin = ctx.clock.now() + graceMs;
    ctx.life.track((async () => {
      let now = origin;
      while (!stop.signal.aborted) {
        const e = ctx.journal.state.entities.get(name);
        if (!e || e.pid === null || !e.heartbeat || ctx.life.stopped) break;
        const spec = e.heartbeat;
        const end = periodEnd(origin, spec.periodMs, now);
        if (!await ctx.clock.sleep(end - ctx.clock.now(), stop.signal)) break;
        now = end;
        const cur = ctx.journal.state.entities.get(name);
        if (!cur || cur.pid === null || !cur.enabled) continue;
        const r = tick(spec, { missed: cur.hbMissed, health: cur.hbHealth }, beat.seen);
        beat.seen = false;
        // Transitions are journaled, not ticks: a change of health, or missed going back to
        // 0. The count in between is volatile like lastBeat (a takeover counts on from the
        // last transition), so an entity that never beats writes a record per threshold,
        // not one per period.
        const transition = r.next.health !== cur.hbHealth ||
          (r.next.missed === 0 && beat.journaledMissed !== 0);
        if (transition) {
          beat.journaledMissed = r.next.missed;
          void ctx.journal.write([{
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
            detail: { condition: type, missed: r.next.missed },
          });
          ctx.life.track(ctx.events.fire({ type, entity: name }));
        }
      }
      if (this.#beats.get(name) === beat) this.#beats.delete(name);
    })());
  }
}
