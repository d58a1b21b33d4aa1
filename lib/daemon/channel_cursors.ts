/**
 * The notify channels' backlogs and their subscribers' cursors (QNX pulses made durable):
 * for each channel, the sequence numbers of the notifications it keeps for subscribers that
 * are not connected, and, for each named subscriber, the last notification it received.
 * They live in `<state-dir>/events/channels.json`, rewritten atomically (temp file, fsync,
 * rename) at most every {@linkcode ChannelCursorsOptions.flushMs}, so a HAM that takes over
 * knows where each named subscriber stopped.
 *
 * A channel's backlog holds at most {@linkcode ChannelCursorsOptions.capacity}
 * notifications. Without named subscribers it is a ring (the oldest leaves); with some, a
 * notification leaves it once every named subscriber has received it, and the backlog is
 * full when that many are waiting for the slowest of them.
 *
 * @module
 */

import { join } from "../core/paths.ts";
import { DEFAULTS } from "../core/defaults.ts";
import { openNoFollowSync } from "../os/safe_open.ts";
import { HamError } from "../core/errors.ts";

/** Options of {@linkcode ChannelCursors.open}. */
export interface ChannelCursorsOptions {
  /** Notifications a channel keeps for subscribers that are away. @default {1000} */
  capacity?: number;
  /** Write the file at most this often, ms. @default {50} */
  flushMs?: number;
}

interface Channel {
  /** Sequence numbers of the notifications kept, oldest first. */
  kept: number[];
  /** Named subscriber → last sequence number it received. */
  subscribers: Map<string, number>;
}

/** The file's shape. */
interface ChannelsFile {
  version: 2;
  channels: Record<string, { kept: number[]; subscribers: Record<string, number> }>;
}

const FILE = "channels.json";

/** The channels' backlogs and named subscribers' cursors. */
export class ChannelCursors {
  #path: string | null;
  #channels = new Map<string, Channel>();
  #capacity: number;
  #flushMs: number;
  #timer: ReturnType<typeof setTimeout> | undefined;

  private constructor(path: string | null, opts: ChannelCursorsOptions) {
    this.#path = path;
    this.#capacity = opts.capacity ?? DEFAULTS.channelBacklog;
    this.#flushMs = opts.flushMs ?? 50;
  }

  /**
   * Opens the cursors kept in `dir` (the event log's directory), or keeps them in memory
   * only when `dir` is null. An unreadable or older-format file starts empty.
   */
  static open(dir: string | null, opts: ChannelCursorsOptions = {}): ChannelCursors {
    const c = new ChannelCursors(dir === null ? null : join(dir, FILE), opts);
    if (c.#path !== null) c.#load(c.#path);
    return c;
  }

  /** The highest sequence number the backlogs and cursors know of (0 when none). */
  get highest(): number {
    let top = 0;
    for (const ch of this.#channels.values()) {
      top = Math.max(top, ch.kept.at(-1) ?? 0, ...ch.subscribers.values());
    }
    return top;
  }

  /** True when the cursors (and so the backlogs) survive the HAM. */
  get durable(): boolean {
    return this.#path !== null;
  }

  #load(path: string): void {
    let raw: Partial<ChannelsFile>;
    try {
      raw = JSON.parse(Deno.readTextFileSync(path));
    } catch {
      return; // None yet, or torn: the rename makes that a crash before the first write.
    }
    if (raw?.version !== 2 || typeof raw.channels !== "object" || raw.channels === null) return;
    for (const [name, ch] of Object.entries(raw.channels)) {
      const kept = Array.isArray(ch?.kept) ? ch.kept.filter(Number.isSafeInteger) : [];
      const subscribers = new Map<string, number>();
      for (const [sub, seq] of Object.entries(ch?.subscribers ?? {})) {
        if (Number.isSafeInteger(seq)) subscribers.set(sub, seq);
      }
      this.#channels.set(name, { kept, subscribers });
    }
  }

  #channel(name: string): Channel {
    let ch = this.#channels.get(name);
    if (!ch) this.#channels.set(name, ch = { kept: [], subscribers: new Map() });
    return ch;
  }

  /** The slowest named subscriber's position, or null when the channel has none. */
  #floor(ch: Channel): number | null {
    let floor: number | null = null;
    for (const seq of ch.subscribers.values()) if (floor === null || seq < floor) floor = seq;
    return floor;
  }

  /**
   * True when the channel cannot keep one more notification: it has named subscribers and
   * `capacity` notifications already wait for the slowest of them.
   */
  full(channel: string): boolean {
    const ch = this.#channels.get(channel);
    return ch !== undefined && ch.subscribers.size > 0 && ch.kept.length >= this.#capacity;
  }

  /** Keeps notification `seq` of `channel` for the subscribers that are away. */
  keep(channel: string, seq: number): void {
    const ch = this.#channel(channel);
    ch.kept.push(seq);
    if (ch.kept.length > this.#capacity) ch.kept.splice(0, ch.kept.length - this.#capacity);
    this.#changed();
  }

  /** Notifications kept on `channel`, oldest first. */
  kept(channel: string): readonly number[] {
    return this.#channels.get(channel)?.kept ?? [];
  }

  /**
   * Checks that named subscriber `subscriber` may register on `channel`: one the channel
   * knows always may; a new one only while fewer than `DEFAULTS.maxNamedSubscribers` are
   * known in all (the cursors file must not grow without bound). ENOMEM otherwise.
   */
  admit(channel: string, subscriber: string): void {
    if (this.cursor(channel, subscriber) !== null) return;
    let named = 0;
    for (const ch of this.#channels.values()) named += ch.subscribers.size;
    if (named >= DEFAULTS.maxNamedSubscribers) {
      throw new HamError(
        "ENOMEM",
        `Cannot subscribe to channel "${channel}" as "${subscriber}": ` +
          `${named} named subscribers are known already (the limit)`,
      );
    }
  }

  /** The last notification named subscriber `subscriber` received, or null when it is new. */
  cursor(channel: string, subscriber: string): number | null {
    return this.#channels.get(channel)?.subscribers.get(subscriber) ?? null;
  }

  /**
   * Where a subscriber of `channel` starts when it gives no sequence number: after its own
   * cursor when it is a named subscriber the channel knows, else at the channel's oldest
   * kept notification (a new subscriber gets the whole backlog). Null: nothing kept.
   */
  startOf(channel: string, subscriber: string | null): number | null {
    const own = subscriber === null ? null : this.cursor(channel, subscriber);
    if (own !== null) return own + 1;
    return this.kept(channel)[0] ?? null;
  }

  /**
   * Records that `subscriber` (named, or null for one without a name) received notification
   * `seq` of `channel`. A named subscriber is registered by its first call; the backlog
   * then drops what every named subscriber has received.
   */
  received(channel: string, subscriber: string | null, seq: number): void {
    if (subscriber === null) return;
    const ch = this.#channel(channel);
    const before = ch.subscribers.get(subscriber);
    if (before !== undefined && before >= seq) return;
    ch.subscribers.set(subscriber, seq);
    const floor = this.#floor(ch)!;
    let drop = 0;
    while (drop < ch.kept.length && ch.kept[drop] <= floor) drop++;
    if (drop > 0) ch.kept.splice(0, drop);
    this.#changed();
  }

  /**
   * Puts named subscriber `subscriber`'s cursor on `channel` back to `seq` when it is past
   * it: what was pushed to it after `seq` was not taken (its client ended the subscription
   * first), and it gets that again when it comes back, from the event log. What the backlog
   * dropped meanwhile is not counted in it again.
   */
  rewind(channel: string, subscriber: string, seq: number): void {
    const ch = this.#channels.get(channel);
    const at = ch?.subscribers.get(subscriber);
    if (ch === undefined || at === undefined || at <= seq) return;
    ch.subscribers.set(subscriber, seq);
    this.#changed();
  }

  #changed(): void {
    if (this.#path === null || this.#timer !== undefined) return;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.flush();
    }, this.#flushMs);
  }

  /** Writes the file now (atomically: temp file, fsync, rename). Best effort. */
  flush(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    if (this.#path === null) return;
    const file: ChannelsFile = { version: 2, channels: {} };
    for (const [name, ch] of this.#channels) {
      file.channels[name] = { kept: ch.kept, subscribers: Object.fromEntries(ch.subscribers) };
    }
    const tmp = `${this.#path}.tmp`;
    try {
      using f = openNoFollowSync(tmp, { write: true, create: true, truncate: true, mode: 0o600 });
      const bytes = new TextEncoder().encode(JSON.stringify(file));
      for (let off = 0; off < bytes.length;) off += f.writeSync(bytes.subarray(off));
      f.syncDataSync();
      Deno.renameSync(tmp, this.#path);
    } catch {
      // Best effort: a named subscriber may then get a notification twice after a takeover.
    }
  }

  /** Writes what is pending; the object stays usable. */
  close(): void {
    if (this.#timer !== undefined) this.flush();
  }
}
