/**
 * The event stream: every attach, detach, death, restart, condition fired and action run
 * gets a sequence number and a time, is kept in a bounded in-memory window, and is handed
 * to subscribers and waiters as it happens.
 *
 * @module
 */

import type { EngineEvent } from "./action_runner.ts";

/** An event with its sequence number and time. */
export interface HamEvent extends EngineEvent {
  seq: number;
  at: number;
}

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
}

/** Numbers, keeps and fans out events. */
export class EventHub {
  #ring: HamEvent[] = [];
  #capacity: number;
  #next: number;
  #now: () => number;
  #listeners = new Set<Listener>();

  /** Creates an empty hub. */
  constructor(opts: EventHubOptions = {}) {
    this.#capacity = opts.capacity ?? 10_000;
    this.#next = opts.firstSeq ?? 1;
    this.#now = opts.now ?? Date.now;
  }

  /** The sequence number the next event will get. */
  get nextSeq(): number {
    return this.#next;
  }

  /** Numbers an event, keeps it, and passes it to every listener. */
  publish(ev: EngineEvent): HamEvent {
    const full: HamEvent = { seq: this.#next++, at: this.#now(), ...ev };
    this.#ring.push(full);
    if (this.#ring.length > this.#capacity) {
      this.#ring.splice(0, this.#ring.length - this.#capacity);
    }
    for (const l of [...this.#listeners]) l(full);
    return full;
  }

  /** Events with `seq >= since` still kept, oldest first, optionally for one entity. */
  since(since: number, entity: string | null = null, limit = Infinity): HamEvent[] {
    const out: HamEvent[] = [];
    for (const ev of this.#ring) {
      if (ev.seq < since || (entity !== null && ev.entity !== entity)) continue;
      out.push(ev);
      if (out.length >= limit) break;
    }
    return out;
  }

  /** The oldest sequence number still kept (or the next one when empty). */
  get oldestSeq(): number {
    return this.#ring[0]?.seq ?? this.#next;
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
