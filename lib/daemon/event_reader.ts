/**
 * The catch-up replay of the event stream ({@linkcode EventReader}): the events from a
 * sequence number on, a bounded batch at a time — from the durable log while they are older
 * than the hub's in-memory window, then from the window — so that `subscribe since:0` or
 * `events` on a 16 MiB log never parses the whole log in one turn of the event loop nor
 * holds it in memory, and a subscriber that does not read can be paused between batches.
 *
 * @module
 */

import type { HamEvent } from "../core/protocol.ts";
import type { EventLogReader } from "./event_log.ts";
import type { EventHub } from "./event_hub.ts";

/** Events of the in-memory window one {@linkcode EventReader.read} returns at most. */
export const WINDOW_BATCH = 512;

/** One batch of a catch-up: what is no longer kept before it, then its events. */
export interface ReadStep {
  /** Events `from`..`to` were asked for and are no longer kept, or null. */
  skipped: { from: number; to: number } | null;
  /** The events, ascending. */
  events: HamEvent[];
}

/**
 * Reads the events of `hub` from `since` on, in batches; {@linkcode EventReader.next} is
 * the sequence number it has reached. Caught up when `next` reaches `hub.nextSeq`: the
 * caller checks that and starts listening in the same turn, so no event falls between.
 *
 * @example
 * ```ts
 * import { EventHub } from "./event_hub.ts";
 * import { EventReader } from "./event_reader.ts";
 * const hub = new EventHub();
 * for (let i = 0; i < 3; i++) hub.publish({ type: "state", entity: "a" });
 * const reader = new EventReader(hub, 2);
 * console.log((await reader.read())?.events.map((e) => e.seq)); // [2, 3]
 * console.log(await reader.read()); // null
 * ```
 */
export class EventReader {
  #hub: EventHub;
  #log: EventLogReader | null = null;
  /** The sequence number of the next event to read. */
  next: number;

  /** A reader of `hub`'s events from `since` on. */
  constructor(hub: EventHub, since: number) {
    this.#hub = hub;
    // Numbering starts at 1: `since` 0 asks for everything, and nothing is skipped.
    this.next = Math.max(since, 1);
  }

  /** True once every event published so far has been read. */
  get caughtUp(): boolean {
    return this.next >= this.#hub.nextSeq;
  }

  /** The next batch, or null when caught up. */
  async read(): Promise<ReadStep | null> {
    const hub = this.#hub;
    if (this.caughtUp) return null;
    let skipped: ReadStep["skipped"] = null;
    const skip = (to: number) => {
      if (to < this.next) return;
      skipped = { from: skipped?.from ?? this.next, to };
      this.next = to + 1;
    };
    skip(hub.oldestSeq - 1);
    if (this.next < hub.memorySeq) {
      if (this.#log === null || this.#log.next !== this.next) {
        this.#log = hub.logReader(this.next);
      }
      const events = this.#log === null ? null : await this.#log.read();
      if (events !== null) {
        skip(events[0].seq - 1);
        this.next = events[events.length - 1].seq + 1;
        return { skipped, events };
      }
      // The log has nothing more: events before the window were never written (a failed
      // append) or are gone.
      this.#log = null;
      skip(hub.memorySeq - 1);
    }
    const events = hub.window(this.next, WINDOW_BATCH);
    if (events.length > 0) {
      skip(events[0].seq - 1);
      this.next = events[events.length - 1].seq + 1;
    }
    return { skipped, events };
  }
}

/** Which events a read keeps: of one entity, or the notifications of one channel. */
export interface EventFilter {
  /** Only this entity's events. @default all */
  entity?: string | null;
  /** Only the notifications of this channel. @default all */
  channel?: string | null;
}

/** True when `ev` passes `filter`. */
export function matchesFilter(ev: HamEvent, filter: EventFilter): boolean {
  const { entity = null, channel = null } = filter;
  if (entity !== null && ev.entity !== entity) return false;
  return channel === null || (ev.type === "notify" && ev.detail?.channel === channel);
}

/**
 * Finds the first event from `since` on that passes `filter` and `pred`, or null, reading
 * the way {@linkcode EventReader} does (a chunk of the log per turn); with `limit`, collects
 * up to that many. What `events` and `wait --since` read.
 */
export async function collectEvents(
  hub: EventHub,
  since: number,
  filter: EventFilter,
  limit: number,
  pred: (ev: HamEvent) => boolean = () => true,
): Promise<{ events: HamEvent[]; next: number }> {
  const reader = new EventReader(hub, since);
  const events: HamEvent[] = [];
  for (;;) {
    const step = await reader.read();
    if (step === null) break;
    for (const ev of step.events) {
      if (!matchesFilter(ev, filter) || !pred(ev)) continue;
      events.push(ev);
      if (events.length >= limit) return { events, next: ev.seq + 1 };
    }
  }
  return { events, next: events.at(-1) ? events.at(-1)!.seq + 1 : hub.nextSeq };
}
