/**
 * The event stream: every attach, detach, death, restart, condition fired and action run
 * gets a sequence number and a time, is written to the durable {@linkcode EventLog} (when
 * given), kept in a bounded in-memory window, and handed to subscribers and waiters. Notify
 * actions are events of type `notify` for a named channel (their backlogs and subscribers'
 * cursors are `channel_cursors.ts`'s).
 *
 * Publishing numbers, stamps and keeps an event at once; its JSON, its log line and its
 * delivery to listeners come a microtask later, for every event of the turn together and
 * in order: an event published on the event path (a death, a condition) costs that path
 * only its number and time. A listener gets exactly the events published after it was
 * added, as if delivery were immediate.
 *
 * @module
 */

import type { EventBody, HamEvent } from "../core/protocol.ts";
import type { EventLog, EventLogReader } from "./event_log.ts";

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
  /** Told of a listener that threw (the others still get the event). @default console.error */
  onListenerError?: (err: unknown) => void;
  /** The durable log; numbering continues after its last event. */
  log?: EventLog;
}

/** What every `notify` event's line in the log holds (`JSON.stringify` of the event). */
const NOTIFY_MARK = '"type":"notify"';

/** Numbers, keeps and fans out events. */
export class EventHub {
  #ring: HamEvent[] = [];
  #capacity: number;
  #next: number;
  #now: () => number;
  /** Each listener with the seq of the first event it gets (the next one when it was added). */
  #listeners = new Map<Listener, number>();
  /** Published, not yet delivered (see {@linkcode publish}). */
  #pending: HamEvent[] = [];
  #onListenerError: (err: unknown) => void;
  #log: EventLog | null;
  /** The window's events older than this hub are still on disk only (read on first use). */
  #ringLoaded: boolean;
  /** Where the window the log held at start begins. */
  #windowFrom: number;
  /** The last published event and its JSON (see {@linkcode json}). */
  #last: { ev: HamEvent; json: string } | null = null;

  /** Creates a hub, continuing the numbering of `log` when given. */
  constructor(opts: EventHubOptions = {}) {
    this.#capacity = opts.capacity ?? 10_000;
    this.#log = opts.log ?? null;
    this.#next = this.#log ? this.#log.lastSeq + 1 : opts.firstSeq ?? 1;
    this.#now = opts.now ?? Date.now;
    this.#onListenerError = opts.onListenerError ??
      ((err) => console.error(`An event listener failed: ${err}`));
    // Read on first use, not here: a HAM taking over answers before it parses its window.
    this.#ringLoaded = this.#log === null;
    this.#windowFrom = Math.max(1, this.#next - this.#capacity);
  }

  /** The in-memory window, with the events the log held when this hub started. */
  #window(): HamEvent[] {
    if (!this.#ringLoaded) {
      this.#ringLoaded = true;
      const first = this.#ring[0]?.seq ?? this.#next;
      const older = this.#log!.read(this.#windowFrom).filter((e) => e.seq < first);
      this.#ring = older.concat(this.#ring);
    }
    return this.#ring;
  }

  /** True when events are kept in a durable log (not only in memory). */
  get durable(): boolean {
    return this.#log !== null;
  }

  /** The durable log's directory, or null when events are kept in memory only. */
  get dir(): string | null {
    return this.#log?.dir ?? null;
  }

  /** Flushes and closes the log. */
  close(): void {
    this.flush();
    this.#log?.close();
  }

  /**
   * `JSON.stringify(ev)`, made once for the event being published (the log's line and every
   * subscriber's push share it) and for any other event anew.
   */
  json(ev: HamEvent): string {
    return this.#last?.ev === ev ? this.#last.json : JSON.stringify(ev);
  }

  /** The sequence number the next event will get. */
  get nextSeq(): number {
    return this.#next;
  }

  /**
   * Numbers an event, stamps it and keeps it (`since` has it at once); a microtask later it
   * goes to the log and to every listener (see the module's note).
   */
  publish(ev: EventBody): HamEvent {
    const full: HamEvent = { seq: this.#next++, at: this.#now(), ...ev };
    this.#ring.push(full);
    if (this.#pending.push(full) === 1) queueMicrotask(() => this.flush());
    return full;
  }

  /**
   * Hands the events published since the last delivery to the log and the listeners now
   * (it happens by itself a microtask after a publish; `close` and tests call it).
   */
  flush(): void {
    const batch = this.#pending;
    if (batch.length === 0) return;
    this.#pending = [];
    const lines = batch.map((ev) => ({ ev, json: JSON.stringify(ev) }));
    // In the file before any listener has them (no subscriber sees an event the log lacks),
    // in one write.
    this.#log?.appendAll(lines);
    for (const { ev: full, json } of lines) {
      this.#last = { ev: full, json };
      for (const [l, from] of [...this.#listeners]) {
        if (full.seq < from) continue;
        try {
          l(full);
        } catch (err) {
          this.#onListenerError(err);
        }
      }
    }
    // Trimmed in chunks (amortized O(1) per event), never below the capacity, and only once
    // the events are in the log (or gone for good): what `since` cannot find in memory it
    // reads there.
    if (this.#ring.length >= this.#capacity * 1.5) {
      this.#ring.splice(0, this.#ring.length - this.#capacity);
    }
  }

  /**
   * Events with `seq >= since` still kept, oldest first, optionally for one entity, or only
   * the notifications of one channel.
   */
  since(
    since: number,
    entity: string | null = null,
    limit = Infinity,
    channel: string | null = null,
  ): HamEvent[] {
    const out: HamEvent[] = [];
    // What was published since start is in memory: the window is read only for older events.
    const ring = since >= (this.#ring[0]?.seq ?? this.#next) ? this.#ring : this.#window();
    const ringStart = ring[0]?.seq ?? this.#next;
    const source = this.#log && since < ringStart
      ? this.#log.read(since).filter((e) => e.seq < ringStart).concat(ring)
      : ring;
    for (const ev of source) {
      if (ev.seq < since || (entity !== null && ev.entity !== entity)) continue;
      if (channel !== null && !(ev.type === "notify" && ev.detail?.channel === channel)) continue;
      out.push(ev);
      if (out.length >= limit) break;
    }
    return out;
  }

  /**
   * The oldest sequence number in memory now, without reading the window the log held at
   * start (the next one when none is): what a reader takes from memory, not the log.
   */
  get memorySeq(): number {
    return this.#ring[0]?.seq ?? this.#next;
  }

  /**
   * Up to `max` of the events in memory from `from` on (from at least
   * {@linkcode memorySeq}), oldest first.
   */
  window(from: number, max: number): HamEvent[] {
    const ring = this.#ring;
    if (ring.length === 0) return [];
    let i = Math.max(0, from - ring[0].seq);
    // The window is numbered without gaps (one publish, one number); this is in case not.
    if (i >= ring.length || ring[i].seq !== from) i = ring.findIndex((e) => e.seq >= from);
    return i < 0 ? [] : ring.slice(i, i + max);
  }

  /** A reader of the durable log from `since` on, or null when events are in memory only. */
  logReader(since: number): EventLogReader | null {
    return this.#log?.reader(since) ?? null;
  }

  /**
   * The `notify` events with `seq >= since` still kept, oldest first. Unlike
   * {@linkcode since}, it reads the log without parsing the events of other types.
   */
  notifications(since: number): HamEvent[] {
    const start = this.#ring[0]?.seq ?? this.#next;
    const isNotify = (ev: HamEvent) => ev.type === "notify" && ev.seq >= since;
    const older = this.#log && since < start
      ? this.#log.read(since, Infinity, NOTIFY_MARK).filter((e) => e.seq < start && isNotify(e))
      : [];
    return older.concat(this.#ring.filter(isNotify));
  }

  /** The oldest sequence number kept in memory (the next one when none is). */
  get windowSeq(): number {
    const first = this.#ring[0]?.seq ?? this.#next;
    if (this.#ringLoaded) return first;
    // Where the window will begin once read: the log may hold less than the capacity.
    return Math.min(Math.max(this.#windowFrom, this.#log!.oldestSeq), first);
  }

  /** The oldest sequence number still kept (or the next one when empty). */
  get oldestSeq(): number {
    return this.#log
      ? Math.min(this.#log.oldestSeq, this.#ring[0]?.seq ?? this.#next)
      : this.#ring[0]?.seq ?? this.#next;
  }

  /** Adds a listener; returns the function that removes it. */
  listen(l: Listener): () => void {
    this.#listeners.set(l, this.#next);
    return () => this.#listeners.delete(l);
  }

  /**
   * Resolves with the first event that satisfies `pred`, or null after `timeoutMs`.
   */
  waitFor(
    pred: (ev: HamEvent) => boolean,
    timeoutMs: number,
    signal?: AbortSignal,
  ): Promise<HamEvent | null> {
    return new Promise((resolve) => {
      const end = (ev: HamEvent | null) => {
        stop();
        clearTimeout(timer);
        signal?.removeEventListener("abort", abort);
        resolve(ev);
      };
      const abort = () => end(null);
      const stop = this.listen((ev) => {
        if (pred(ev)) end(ev);
      });
      const timer = setTimeout(abort, timeoutMs);
      // A waiter whose connection closed is released at once (not at its timeout).
      if (signal?.aborted) abort();
      else signal?.addEventListener("abort", abort, { once: true });
    });
  }

  /** Listeners registered now (waits and subscriptions): for tests and metrics. */
  get listenerCount(): number {
    return this.#listeners.size;
  }
}
