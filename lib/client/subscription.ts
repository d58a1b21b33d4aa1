/**
 * A subscription to the HAM's event stream, as an async iterator of events. It ends when
 * the HAM drops it for lagging, or when its caller leaves `DEFAULTS.maxUnreadEvents` unread
 * ({@linkcode Subscription.endReason} `"lagged"`, subscribe again from
 * {@linkcode Subscription.resumeFrom}), when the connection ends for good, or when the
 * caller stops iterating (`return()`, `break`: the HAM is told to end it, `unsubscribe`).
 *
 * @module
 */

import type { HamClient, SubscriptionHandle } from "./client.ts";
import { DEFAULTS } from "../core/defaults.ts";
import type { Push } from "../core/protocol.ts";
import type { HamEvent } from "../core/protocol.ts";

/**
 * Options of `Ham.subscribe()`.
 *
 * @example
 * ```ts
 * import type { SubscribeOptions } from "./subscription.ts";
 *
 * // A named subscriber of the "pager" channel that resumes where it left off.
 * const opts: SubscribeOptions = {
 *   channel: "pager",
 *   subscriber: "pager-1",
 *   onSkipped: (from, to) => console.warn(`events ${from}..${to} were no longer kept`),
 * };
 * console.log(opts.channel); // "pager"
 * ```
 */
export interface SubscribeOptions {
  /** The first sequence number wanted. @default {from now; for a channel, its backlog} */
  since?: number;
  /** Only the events of this entity. @default {every entity} */
  entity?: string;
  /** Only the notifications of this channel (the notify actions' QNX pulses). @default {none} */
  channel?: string;
  /**
   * With `channel`: a name under which the HAM keeps this subscriber's cursor, so that it
   * gets, when it subscribes again, what it missed while away (and the channel keeps its
   * backlog for it); without `channel` it is refused (EINVAL). @default {none: a new
   * subscriber each time}
   */
  subscriber?: string;
  /** Told when events that were asked for are no longer kept (the stream carries on). */
  onSkipped?: (from: number, to: number) => void;
  /**
   * Events held that the caller has not read, past which the subscription ends as when the
   * HAM drops it for lagging: `endReason` `"lagged"`, the events held still readable, and
   * `resumeFrom` the first event it did not hold. @default {DEFAULTS.maxUnreadEvents}
   */
  maxUnread?: number;
}

/** Why a subscription ended. */
export type SubscriptionEnd = NonNullable<Subscription["endReason"]>;

/**
 * A live subscription: `for await (const ev of sub)`.
 *
 * @example
 * ```ts
 * import type { Subscription } from "./subscription.ts";
 *
 * // Prints deaths until the subscription ends, then says why it ended.
 * export async function printDeaths(sub: Subscription): Promise<string | null> {
 *   for await (const ev of sub) if (ev.type === "death") console.log(ev.entity, ev.detail);
 *   return sub.endReason; // "lagged", "closed" or "returned"
 * }
 * ```
 */
export class Subscription implements AsyncIterableIterator<HamEvent>, AsyncDisposable {
  #queue: HamEvent[] = [];
  #waiter: PromiseWithResolvers<IteratorResult<HamEvent>> | null = null;
  #handle: SubscriptionHandle | null = null;
  #end: SubscriptionEnd | null = null;
  #next = 0;
  #onSkipped: SubscribeOptions["onSkipped"];
  #maxUnread: number;

  private constructor(opts: SubscribeOptions) {
    this.#onSkipped = opts.onSkipped;
    this.#maxUnread = opts.maxUnread ?? DEFAULTS.maxUnreadEvents;
  }

  /** Opens a subscription on `client`. */
  static async open(client: HamClient, opts: SubscribeOptions = {}): Promise<Subscription> {
    const s = new Subscription(opts);
    s.#handle = await client.subscribe({
      since: opts.since ?? null,
      entity: opts.entity ?? null,
      channel: opts.channel ?? null,
      subscriber: opts.subscriber ?? null,
    }, (push) => s.#onPush(push));
    s.#next = Math.max(s.#next, s.#handle.since);
    client.closed.then(() => s.#finish("closed"));
    return s;
  }

  /** Why it ended, or null while it is open. */
  get endReason(): "lagged" | "closed" | "returned" | null {
    return this.#end;
  }

  /**
   * The sequence number after the last event received: where to subscribe again from (after
   * `return()`, the first event it dropped unread, if any).
   */
  get resumeFrom(): number {
    return this.#next;
  }

  #onPush(push: Push): void {
    if (this.#end) return;
    if (push.type === "event") {
      if (this.#waiter) {
        this.#waiter.resolve({ value: push.event, done: false });
        this.#waiter = null;
      } else if (this.#queue.length >= this.#maxUnread) {
        // A caller that does not read lags as behind the HAM: told, with where to resume.
        this.#next = push.event.seq;
        return this.#finish("lagged");
      } else this.#queue.push(push.event);
      this.#next = push.event.seq + 1;
    } else if (push.type === "skipped") {
      this.#next = Math.max(this.#next, push.to + 1);
      this.#onSkipped?.(push.from, push.to);
    } else if (push.type === "ended") {
      this.#next = push.next;
      this.#finish("lagged");
    }
  }

  #finish(why: SubscriptionEnd): void {
    if (this.#end) return;
    this.#end = why;
    // Where the caller stopped taking events: a named subscriber resumes there.
    this.#handle?.close(this.#next);
    this.#waiter?.resolve({ value: undefined, done: true });
    this.#waiter = null;
  }

  /** The next event; done once the subscription has ended and its events were read. */
  next(): Promise<IteratorResult<HamEvent>> {
    const ev = this.#queue.shift();
    if (ev) return Promise.resolve({ value: ev, done: false });
    if (this.#end) return Promise.resolve({ value: undefined, done: true });
    this.#waiter ??= Promise.withResolvers();
    return this.#waiter.promise;
  }

  /** Stops the subscription (events still queued are dropped: not taken). */
  return(): Promise<IteratorResult<HamEvent>> {
    if (!this.#end && this.#queue.length > 0) this.#next = this.#queue[0].seq;
    this.#queue = [];
    this.#finish("returned");
    return Promise.resolve({ value: undefined, done: true });
  }

  /** The subscription itself. */
  [Symbol.asyncIterator](): this {
    return this;
  }

  /** Stops the subscription. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.return();
  }
}
