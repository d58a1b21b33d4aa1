/**
 * Subscriptions to the event stream and the delivery of notify actions to their channels.
 *
 * A subscription is named by the id of the `subscribe` request that opened it (`sub`), and
 * every push it causes carries that id, so one connection can hold several. What it is
 * pushed (the shapes are `Push` in `core/protocol.ts`):
 *
 * - `{type:"event", sub, event}`: the next event.
 * - `{type:"skipped", sub, from, to}`: events `from`..`to` are no longer kept (the
 *   subscription asked for them); it carries on with the next one.
 * - `{type:"ended", sub, reason:"lagged", next}`: the subscriber fell more than
 *   `DEFAULTS.maxSubscriberBacklogBytes` behind; the subscription is over, and `next` is the
 *   sequence number to subscribe again from.
 *
 * A subscription ends when its connection does, or when its client asks (`unsubscribe`,
 * {@linkcode Subscriptions.unsubscribe}): the same way for that one subscription.
 *
 * @module
 */

import type { HamEvent, RequestOf, Results, SubscribeResult } from "../core/protocol.ts";
import { DEFAULTS } from "../core/defaults.ts";
import type { ChannelCursors } from "./channel_cursors.ts";
import type { EventHub } from "./event_hub.ts";
import { EventReader } from "./event_reader.ts";
import type { Connection } from "./server.ts";

type SubscribeRequest = RequestOf<"subscribe">;

/** Options of {@linkcode Subscriptions}. */
export interface SubscriptionsOptions {
  /** A live subscriber's unsent backlog past which it lags. @default DEFAULTS.maxSubscriberBacklogBytes */
  maxBacklogBytes?: number;
  /** Unsent output above which a catch-up replay waits. @default DEFAULTS.catchUpHighWaterBytes */
  catchUpHighWaterBytes?: number;
}

/** The live subscriptions of a HAM, and notify delivery. */
export class Subscriptions {
  #hub: EventHub;
  #channels: ChannelCursors;
  #maxBacklog: number;
  /** Channel → subscriptions connected to it now. */
  #live = new Map<string, number>();
  /** Unsent output of a connection above which its catch-up replay waits. */
  #highWater: number;
  /** Catch-up replays under way. */
  #replays = new Set<Promise<void>>();
  /** True once {@linkcode catchUp} ran. */
  #caughtUp = false;
  /** Open subscriptions by connection, then by sub: what ends each (see `unsubscribe`). */
  #open = new WeakMap<Connection, Map<number, (next: number | null) => void>>();

  /** Serves subscriptions of `hub`; `channels` keeps the notify backlogs and cursors. */
  constructor(hub: EventHub, channels: ChannelCursors, opts: SubscriptionsOptions = {}) {
    this.#hub = hub;
    this.#channels = channels;
    this.#maxBacklog = opts.maxBacklogBytes ?? DEFAULTS.maxSubscriberBacklogBytes;
    this.#highWater = opts.catchUpHighWaterBytes ?? DEFAULTS.catchUpHighWaterBytes;
  }

  /**
   * Keeps the notifications the channels' file does not know yet (it is written a moment
   * after them, so a HAM that died may not have written the last ones), from the events
   * in memory. Runs once: when the HAM starts (a HAM taking over runs it a moment after it
   * answers), or before, when a subscription or a notification comes first.
   */
  catchUp(): void {
    if (this.#caughtUp) return;
    this.#caughtUp = true;
    if (!this.#channels.durable) return;
    const from = Math.max(this.#channels.highest + 1, this.#hub.windowSeq);
    for (const ev of this.#hub.notifications(from)) {
      const channel = ev.detail?.channel;
      if (typeof channel === "string") this.#channels.keep(channel, ev.seq);
    }
  }

  /** Subscribers of `channel` connected now. */
  connectedTo(channel: string): number {
    return this.#live.get(channel) ?? 0;
  }

  /**
   * Opens a subscription on `conn`: replays what it asked for that is already past (after a
   * `skipped` for what is no longer kept), then pushes every new event until the connection
   * ends, the client unsubscribes or the subscriber lags. The replay is streamed ({@linkcode EventReader}): a batch
   * at a time, paused while the connection's unsent output is above `catchUpHighWaterBytes`
   * (a subscriber that does not read is not fed the log), and the subscription goes live in
   * the turn it catches up.
   */
  subscribe(req: SubscribeRequest, conn: Connection): SubscribeResult {
    this.catchUp();
    const { channel, entity, subscriber } = req;
    const hub = this.#hub;
    const sub = req.id;
    const wanted = (ev: HamEvent) =>
      channel !== null
        ? ev.type === "notify" && ev.detail?.channel === channel
        : entity === null || ev.entity === entity;
    const since = req.since ??
      (channel !== null ? this.#channels.startOf(channel, subscriber) : null) ?? hub.nextSeq;
    if (channel !== null && subscriber !== null) {
      this.#channels.admit(channel, subscriber);
      // Registered now, so its backlog is kept while it is away from here on.
      this.#channels.received(channel, subscriber, since - 1);
    }
    // The bytes of JSON.stringify({ push: { type: "event", sub, event } }), with the event's
    // JSON made once for every subscriber (and the log).
    const head = `{"push":{"type":"event","sub":${JSON.stringify(sub)},"event":`;
    const deliver = (ev: HamEvent) => {
      conn.send(`${head}${hub.json(ev)}}}`);
      if (channel !== null) this.#channels.received(channel, subscriber, ev.seq);
    };
    let open = true;
    let stop = () => {};
    const subs = this.#open.get(conn) ?? new Map<number, (next: number | null) => void>();
    this.#open.set(conn, subs);
    /** `next`: the first sequence number the subscriber did not take, when it says so. */
    const end = (next: number | null = null) => {
      if (!open) return;
      open = false;
      stop();
      const i = conn.onClose.indexOf(closed);
      if (i >= 0) conn.onClose.splice(i, 1);
      if (subs.get(sub) === unsubscribe) subs.delete(sub);
      if (channel === null) return;
      // What was pushed after it is received again when it comes back.
      if (subscriber !== null && next !== null) {
        this.#channels.rewind(channel, subscriber, Math.max(next, since) - 1);
      }
      const left = this.connectedTo(channel) - 1;
      if (left > 0) this.#live.set(channel, left);
      else this.#live.delete(channel);
    };
    const live = () => {
      stop = hub.listen((ev) => {
        // A `since` past the next event: what comes before it was not asked for.
        if (ev.seq < since || !wanted(ev)) return;
        if (conn.queuedBytes > this.#maxBacklog) {
          // Never dropped silently: it is told, with where to subscribe again from.
          end();
          conn.send({ push: { type: "ended", sub, reason: "lagged", next: ev.seq } });
          return;
        }
        deliver(ev);
      });
    };
    // Connected from now on: a notify meanwhile reaches it through the replay.
    if (channel !== null) this.#live.set(channel, this.connectedTo(channel) + 1);
    const closed = () => end();
    conn.onClose.push(closed);
    // A second subscription under the same id (a client's mistake) ends with the first.
    const before = subs.get(sub);
    const unsubscribe = (next: number | null) => {
      before?.(next);
      end(next);
    };
    subs.set(sub, unsubscribe);
    const reader = new EventReader(hub, since);
    const replay = (async () => {
      for (;;) {
        if (!open) return;
        // Checked and listened to in one turn: no event falls between the two.
        if (reader.caughtUp) return live();
        await conn.drained(this.#highWater);
        if (!open || conn.closed) return;
        const step = await reader.read();
        if (step === null || !open) continue;
        if (step.skipped) conn.send({ push: { type: "skipped", sub, ...step.skipped } });
        // One write per batch, not one per event.
        const lines: string[] = [];
        for (const ev of step.events) {
          if (!wanted(ev)) continue;
          lines.push(JSON.stringify({ push: { type: "event", sub, event: ev } }));
          if (channel !== null) this.#channels.received(channel, subscriber, ev.seq);
        }
        if (lines.length > 0) conn.send(lines.join("\n"));
        // Other connections get a turn between batches.
        await new Promise((r) => setTimeout(r, 0));
      }
    })().catch(() => end());
    this.#replays.add(replay);
    replay.finally(() => this.#replays.delete(replay));
    return { sub, since };
  }

  /**
   * Ends subscription `req.sub` of `conn` (`unsubscribe`) as the connection's end would:
   * nothing more is pushed for it, its channel counts one subscriber less, and a named
   * subscriber's cursor stays where its pushes stopped, or goes back to before `req.next`
   * when the HAM had pushed further than the subscriber took. A sub that is not open on
   * `conn` (it lagged, or ended already) is no error: `ended` is false.
   */
  unsubscribe(req: RequestOf<"unsubscribe">, conn: Connection): Results["unsubscribe"] {
    const end = this.#open.get(conn)?.get(req.sub);
    end?.(req.next);
    return { sub: req.sub, ended: end !== undefined };
  }

  /** Resolves once every catch-up replay under way now has caught up or ended (for tests). */
  async settled(): Promise<void> {
    while (this.#replays.size > 0) await Promise.all([...this.#replays]);
  }

  /**
   * Delivers a notify action (the engine's `notify`): an event of type `notify` on the
   * channel. It fails (false) when nobody can get it: no subscriber of the channel is
   * connected, and the channel cannot keep it for later (the HAM has no durable event log,
   * or the channel's backlog is full).
   */
  notify(channel: string, message: Record<string, unknown>): boolean {
    this.catchUp();
    const live = this.connectedTo(channel) > 0;
    if (!live && (!this.#channels.durable || this.#channels.full(channel))) return false;
    const seq = this.#hub.nextSeq;
    if (this.#channels.durable) this.#channels.keep(channel, seq);
    this.#hub.publish({
      type: "notify",
      entity: String(message.entity ?? ""),
      condition: String(message.condition ?? ""),
      action: String(message.action ?? ""),
      detail: {
        channel,
        code: message.code,
        value: message.value,
        // A notification another node's HAM forwarded: the identity it connected with.
        ...(typeof message.from === "string" ? { from: message.from } : {}),
      },
    });
    return true;
  }
}
