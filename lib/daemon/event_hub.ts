/**
 * The event stream: every attach, detach, death, restart, condition fired and action run
 * gets a sequence number and a time, is written to the durable {@linkcode EventLog} (when
 * given), kept in a bounded in-memory window, and handed to subscribers and waiters as it
 * happens. Notify actions are events of type `notify` for a named channel; the hub keeps
 * each channel's delivery cursor so a subscriber that was away gets what it missed.
 *
 * @module
 */

import type { EventBody, HamEvent } from "../core/protocol.ts";
import type { EventLog } from "./event_log.ts";
import { writeFileAtomicSync } from "../store/durable.ts";

/** A live subscriber: gets every event (after `filter`) until it unsubscribes. */
export type Listener = (ev: HamEvent) => void;

/** Options of {@linkcode EventHub}. */
export interface EventHubOptions {
  /** Events kept for `events --since`. @default 10000 */
  capacity?: number;
  /** First sequence number to hand out. @default 1 */
  firstSeq?: number;
  /** Clock. @default Date.now */
  now?: () => number;
  /** The durable log; numbering continues after its last event. */
  log?: EventLog;
}

/** Numbers, keeps and fans out events. */
export class EventHub {
  #ring: HamEvent[] = [];
  #capacity: number;
  #next: number;
  #now: () => number;
  #listeners = new Set<Listener>();
  #log: EventLog | null;
  #cursors = new Map<string, number>();
  #cursorTimer: ReturnType<typeof setTimeout> | undefined;

  /** Creates a hub, continuing the numbering of `log` when given. */
  constructor(opts: EventHubOptions = {}) {
    this.#capacity = opts.capacity ?? 10_000;
    this.#log = opts.log ?? null;
    this.#next = this.#log ? this.#log.lastSeq + 1 : opts.firstSeq ?? 1;
    this.#now = opts.now ?? Date.now;
    if (this.#log) {
      this.#ring = this.#log.read(Math.max(1, this.#next - this.#capacity));
      this.#loadCursors();
    }
  }

  #cursorPath(): string | null {
    return this.#log ? `${this.#log.dir}/channels.json` : null;
  }

  #loadCursors(): void {
    try {
      const raw = JSON.parse(Deno.readTextFileSync(this.#cursorPath()!));
      for (const [k, v] of Object.entries(raw)) if (typeof v === "number") this.#cursors.set(k, v);
    } catch { /* none yet */ }
  }

  /** The last notify seq delivered on `channel` (0 when none). */
  delivered(channel: string): number {
    return this.#cursors.get(channel) ?? 0;
  }

  /** Records that a channel's notifications up to `seq` reached a subscriber. */
  markDelivered(channel: string, seq: number): void {
    if (seq <= this.delivered(channel)) return;
    this.#cursors.set(channel, seq);
    const path = this.#cursorPath();
    if (!path || this.#cursorTimer !== undefined) return;
    this.#cursorTimer = setTimeout(() => {
      this.#cursorTimer = undefined;
      try {
        writeFileAtomicSync(path, JSON.stringify(Object.fromEntries(this.#cursors)));
      } catch { /* best effort: a subscriber may see a notification twice */ }
    }, 50);
  }

  /** Flushes the log and the channel cursors. */
  close(): void {
    if (this.#cursorTimer !== undefined) {
      clearTimeout(this.#cursorTimer);
      this.#cursorTimer = undefined;
      const path = this.#cursorPath();
      if (path) writeFileAtomicSync(path, JSON.stringify(Object.fromEntries(this.#cursors)));
    }
    this.#log?.close();
  }

  /** The sequence number the next event will get. */
  get nextSeq(): number {
    return this.#next;
  }

  /** Numbers an event, keeps it, and passes it to every listener. */
  publish(ev: EventBody): HamEvent {
    const full: HamEvent = { seq: this.#next++, at: this.#now(), ...ev };
    try {
      this.#log?.append(full);
    } catch { /* the in-memory window still has it; the log catches up on the next event */ }
    this.#ring.push(full);
    // Trimmed in chunks (amortized O(1) per event), never below the capacity.
    if (this.#ring.length >= this.#capacity * 1.5) {
      this.#ring.splice(0, this.#ring.length - this.#capacity);
    }
    for (const l of [...this.#listeners]) l(full);
    return full;
  }

  /** Events with `seq >= since` still kept, oldest first, optionally for one entity. */
  since(since: number, entity: string | null = null, limit = Infinity): HamEvent[] {
    const out: HamEvent[] = [];
    const ringStart = this.#ring[0]?.seq ?? this.#next;
    const source = this.#log && since < ringStart
      ? this.#log.read(since).filter((e) => e.seq < ringStart).concat(this.#ring)
      : this.#ring;
    for (const ev of source) {
      if (ev.seq < since || (entity !== null && ev.entity !== entity)) continue;
      out.push(ev);
      if (out.length >= limit) break;
    }
    return out;
  }

  /** The oldest sequence number still kept (or the next one when empty). */
  get oldestSeq(): number {
    return this.#log
      ? Math.min(this.#log.oldestSeq, this.#ring[0]?.seq ?? this.#next)
      : this.#ring[0]?.seq ?? this.#next;
  }

  /** Adds a listener; returns the function that removes it. */
  listen(l: Listener): () => void {
    this.#listeners.add(l);
    return () => this.#listeners.delete(l);
  }

  /**
   * Resolves with the first event that satisfies `pred`, or null after `timeoutMs`.
   */
  waitFor(pred: (ev: HamEvent) => boolean, timeoutMs: number): Promise<HamEvent | null> {
    return new Promise((resolve) => {
      const stop = this.listen((ev) => {
        if (!pred(ev)) return;
        stop();
        clearTimeout(timer);
        resolve(ev);
      });
      const timer = setTimeout(() => {
        stop();
        resolve(null);
      }, timeoutMs);
    });
  }
}
