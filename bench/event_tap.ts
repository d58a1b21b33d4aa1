/**
 * A subscription to the HAM's event stream that stamps each event with the `CLOCK_REALTIME`
 * instant it was received, and lets a benchmark wait for the next event that matches.
 *
 * @module
 */

import { connect, type Ham } from "../lib/client/ham.ts";
import type { HamEvent } from "../lib/core/protocol.ts";
import { realtimeMs } from "./clock.ts";

/** An event and when this process received it (ms since the epoch, µs resolution). */
export interface ReceivedEvent {
  event: HamEvent;
  receivedMs: number;
}

interface Waiter {
  match: (ev: HamEvent) => boolean;
  resolve: (r: ReceivedEvent) => void;
}

/**
 * Follows the events of a HAM from now on, on a connection of its own;
 * `await using tap = await EventTap.open(stateDir)`.
 */
export class EventTap implements AsyncDisposable {
  #ham: Ham;
  #buffer: ReceivedEvent[] = [];
  #waiters: Waiter[] = [];

  private constructor(ham: Ham, events: AsyncIterableIterator<HamEvent>) {
    this.#ham = ham;
    void this.#pump(events);
  }

  /** Connects to the HAM of `stateDir` and subscribes to its events from now on. */
  static async open(stateDir: string): Promise<EventTap> {
    const ham = await connect({ stateDir, client: "bench-tap" });
    try {
      return new EventTap(ham, await ham.subscribe());
    } catch (err) {
      await ham[Symbol.asyncDispose]();
      throw err;
    }
  }

  /** Closes the connection. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.#ham[Symbol.asyncDispose]();
  }

  async #pump(events: AsyncIterableIterator<HamEvent>): Promise<void> {
    for await (const event of events) {
      const r = { event, receivedMs: realtimeMs() };
      const i = this.#waiters.findIndex((w) => w.match(event));
      if (i >= 0) this.#waiters.splice(i, 1)[0].resolve(r);
      else this.#buffer.push(r);
    }
  }

  /** Forgets the events received so far that nobody waited for. */
  drain(): void {
    this.#buffer = [];
  }

  /** The first event (buffered or to come) that matches; throws after `timeoutMs`. */
  next(match: (ev: HamEvent) => boolean, timeoutMs = 10_000): Promise<ReceivedEvent> {
    const i = this.#buffer.findIndex((r) => match(r.event));
    if (i >= 0) return Promise.resolve(this.#buffer.splice(i, 1)[0]);
    const { promise, resolve, reject } = Promise.withResolvers<ReceivedEvent>();
    const waiter: Waiter = { match, resolve };
    this.#waiters.push(waiter);
    const timer = setTimeout(() => {
      this.#waiters = this.#waiters.filter((w) => w !== waiter);
      reject(new Error(`Timed out after ${timeoutMs} ms waiting for an event`));
    }, timeoutMs);
    return promise.finally(() => clearTimeout(timer));
  }
}
