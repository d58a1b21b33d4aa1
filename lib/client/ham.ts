/**
 * A connection to the HAM with a method per `ham_*` call that is not made on a handle:
 * attach and detach, placeholders, handles by name, verbosity, stop, status, heartbeats,
 * published states and raised conditions, waiting, and the event stream.
 *
 * @module
 */

import { type ConnectOptions, HamClient } from "./client.ts";
import { HamError } from "../core/errors.ts";
import { parseFlags } from "../core/flags.ts";
import { ActionHandle, ConditionHandle, EntityHandle } from "./handles.ts";
import { parsePath, validateEntityName } from "../core/names.ts";
import type {
  EventsResult,
  FlagsInput,
  RaiseFields,
  Requests,
  StateResult,
  VerboseCommand,
  WaitFor,
  WaitResult,
} from "../core/protocol.ts";
import {
  type AttachOptions,
  type AttachTarget,
  raiseFields,
  type SelfAttachOptions,
} from "../core/requests.ts";
import type { StatusView } from "../core/status_view.ts";
import { type SubscribeOptions, Subscription } from "./subscription.ts";
import { DEFAULTS } from "../core/defaults.ts";
import { beatSlot } from "../core/heartbeat_slot.ts";
import type { MappedSlot } from "../os/beat_slot_file.ts";

/**
 * A connection to the HAM (`ham_connect`). Everything it adds outlives it, except
 * self-attached entities: closing the connection without {@linkcode Ham.detachSelf} is
 * their death, as in QNX.
 *
 * A connection that self-attached re-attaches by itself, as QNX's libham does: when it is
 * lost without the HAM saying it stops (the HAM died and its Guardian is taking over), it
 * reconnects to the same socket path with backoff for up to `reattachWithinMs` and renews
 * every attachment it holds; meanwhile new requests wait for it, and those in flight when
 * it was lost fail with ECONNRESET. The new HAM watches the process by pid until then, so
 * it is not taken for dead. An attachment whose entity is gone by then (another client
 * detached it, say) is not made again: the HAM refuses its renewal (ENOENT) and the
 * connection forgets it, so a `heartbeat()` for it fails as on a connection that never
 * self-attached.
 *
 * @example
 * ```ts
 * import { connect } from "./ham.ts";
 *
 * // A worker that the HAM watches through its heartbeats, and that sees its own events.
 * export async function worker(stateDir: string): Promise<void> {
 *   await using ham = await connect({ stateDir });
 *   await ham.attachSelf("worker", { heartbeat: { periodMs: 1000, low: 2, high: 4 } });
 *   const events = await ham.subscribe({ entity: "worker" });
 *   setInterval(() => void ham.heartbeat(), 500);
 *   for await (const ev of events) console.log(ev.seq, ev.type);
 * }
 * ```
 */
export class Ham implements AsyncDisposable {
  /** The underlying connection, for raw requests and pushed lines. */
  readonly client: HamClient;
  #self = new Map<string, Requests["attach-self"]>();
  #reattachWithinMs: number;
  /** Heartbeat slots mapped, by the entity named in `heartbeat` ("" for its own). */
  #slots = new Map<string, { mapped: MappedSlot; generation: number }>();
  /** The slot requests in flight, by the same key. */
  #asking = new Map<string, Promise<void>>();
  /** FFI is permitted (null: not asked yet). */
  #ffi: boolean | null = null;
  /** A slot could not be mapped: every beat goes over the socket. */
  #noSlots = false;

  /**
   * Wraps a connected client. `reattachWithinMs` bounds the reconnection of a connection
   * that self-attached (see the class documentation). @default 30000
   */
  constructor(client: HamClient, opts: { reattachWithinMs?: number } = {}) {
    this.client = client;
    this.#reattachWithinMs = opts.reattachWithinMs ?? DEFAULTS.reattachWithinMs;
  }

  /** Attaches a command to start, or a running pid, as entity `name` (`ham_attach`). */
  async attach(
    name: string,
    target: AttachTarget,
    opts: AttachOptions = {},
  ): Promise<EntityHandle> {
    const r = await this.client.request("attach", {
      entity: name,
      argv: "argv" in target ? target.argv : null,
      pid: "pid" in target ? target.pid : null,
      cwd: opts.cwd ?? null,
      env: opts.env ?? null,
      flags: parseFlags("entity", opts.flags),
      heartbeat: opts.heartbeat ?? null,
      ...(opts.killMode ? { killMode: opts.killMode } : {}),
    });
    return new EntityHandle(this.client, r.entity, r.pid);
  }

  /**
   * Attaches this process as entity `name` (`ham_attach_self`). After a Guardian takeover,
   * the attachment is renewed on the new connection (see the class documentation). A
   * process is one self-attached entity: the same name again is its re-attach, another
   * name (or a process another entity watches by pid) is EEXIST until it detaches.
   */
  async attachSelf(name: string, opts: SelfAttachOptions = {}): Promise<EntityHandle> {
    const fields: Requests["attach-self"] = {
      entity: name,
      pid: Deno.pid,
      heartbeat: opts.heartbeat ?? null,
      flags: parseFlags("entity", opts.flags),
    };
    const before = this.#self.get(name);
    this.#self.set(name, fields);
    this.#keepAttached();
    try {
      const r = await this.client.request("attach-self", fields);
      // Sent after a reconnection, it may have found its renewal refused (not made yet).
      if (!this.#self.has(name)) {
        this.#self.set(name, fields);
        this.#keepAttached();
      }
      return new EntityHandle(this.client, r.entity, r.pid);
    } catch (err) {
      if (before) this.#self.set(name, before);
      else this.#self.delete(name);
      this.#keepAttached();
      throw err;
    }
  }

  /** Reconnects and re-attaches while some entity is self-attached, not otherwise. */
  #keepAttached(): void {
    if (this.#self.size === 0) return this.client.reconnect(null);
    this.client.reconnect({
      totalMs: this.#reattachWithinMs,
      onReconnect: async (request) => {
        for (const [name, fields] of [...this.#self]) {
          try {
            // A renewal: the HAM refuses it (ENOENT) rather than make again an entity that
            // was detached or removed since (another client's detach, on the HAM that
            // died). A HAM that predates `renew` ignores the field and attaches, as before.
            await request("attach-self", { ...fields, renew: true });
          } catch (err) {
            // A lost connection is retried; a refusal is the HAM's answer to keep, and
            // ENOENT says this process is no longer attached as `name`: forgotten.
            if (err instanceof HamError && err.code === "ECONNRESET") throw err;
            if (
              err instanceof HamError && err.code === "ENOENT" && this.#self.get(name) === fields
            ) {
              this.#self.delete(name);
            }
          }
        }
        if (this.#self.size === 0) this.client.reconnect(null);
      },
    });
  }

  /** Detaches this process from entity `name` (`ham_detach_self`). */
  async detachSelf(name: string): Promise<void> {
    await this.client.request("detach-self", { entity: name });
    this.#self.delete(name);
    this.#keepAttached();
  }

  /** Creates a placeholder entity, for conditions set up before the process exists (`ham_entity`). */
  async entity(name: string, opts: { flags?: FlagsInput } = {}): Promise<EntityHandle> {
    await this.client.request("entity", { entity: name, flags: parseFlags("entity", opts.flags) });
    return new EntityHandle(this.client, name);
  }

  /** Stops monitoring entity `name` (`ham_detach_name`). */
  async detach(name: string): Promise<void> {
    await this.client.request("detach", { entity: name });
  }

  /**
   * A handle on entity `name`, or on the global entity `@global` (`ham_entity_handle`).
   * Throws ENOENT when the HAM has no such entity, as `ham_entity_handle` fails.
   */
  async entityHandle(name: string): Promise<EntityHandle> {
    await this.#exists(validateEntityName(name));
    return new EntityHandle(this.client, name);
  }

  /**
   * A handle on condition `entity/condition` (`ham_condition_handle`). Throws ENOENT when
   * the HAM has no such condition.
   */
  async conditionHandle(path: string): Promise<ConditionHandle> {
    parsePath(path, 2);
    await this.#exists(path);
    return new ConditionHandle(this.client, path);
  }

  /**
   * A handle on action `entity/condition/action` (`ham_action_handle`). Throws ENOENT when
   * the HAM has no such action.
   */
  async actionHandle(path: string): Promise<ActionHandle> {
    parsePath(path, 3);
    await this.#exists(path);
    return new ActionHandle(this.client, path);
  }

  /**
   * Throws ENOENT unless the item at `path` exists. A look-up, as `ham_*_handle`: it asks
   * for the item's status, which the read role may (reading its flags through `control`
   * needs the admin role).
   */
  async #exists(path: string): Promise<void> {
    await this.client.request("status", { path });
  }

  /** Reads or changes the HAM's verbosity (`ham_verbose`); answers the level after it. */
  async verbose(command: VerboseCommand = "get", value = 0): Promise<number> {
    const r = await this.client.request("verbose", { command, value });
    return r.verbosity;
  }

  /** Stops the HAM and its Guardian (`ham_stop`). */
  async stop(): Promise<void> {
    await requestStop(this.client);
  }

  /** The status of the whole HAM, or of the item `path` names (the `/proc/ham` view). */
  status(path?: string): Promise<StatusView> {
    return this.client.request("status", { path: path ?? null });
  }

  /**
   * Sends a heartbeat for `entity`, or for the entity this process self-attached
   * (`ham_heartbeat`).
   *
   * By default the first beat asks the HAM for a heartbeat slot, and the next beats are
   * stores into that slot (a shared page the HAM reads once per period end): no message,
   * no system call, nothing for the HAM to do per beat. The promise then resolves at once.
   * A beat goes over the socket instead, answered, when there is no slot to use: a remote
   * HAM, no `--allow-ffi`, the entity no longer counted (detached, dead, its heartbeat
   * removed: the beat then gets the HAM's answer, such as `ENOENT`), or after a
   * reconnection until the new HAM hands out a new slot.
   *
   * With `{ reply: true }` every beat goes over the socket and resolves once the HAM took
   * it. With `{ reply: false }` it goes over the socket and resolves once sent; the HAM
   * answers only a refused beat (the next such call rejects with it).
   */
  async heartbeat(entity?: string, opts: { reply?: boolean } = {}): Promise<void> {
    if (opts.reply === false) {
      return await this.client.post("heartbeat", { entity: entity ?? null, reply: false });
    }
    if (opts.reply === true || !this.#slotsPossible()) {
      await this.client.request("heartbeat", { entity: entity ?? null });
      return;
    }
    const key = entity ?? "";
    // A beat made while this entity's slot is being asked for waits for that answer (a
    // second request would be a second message, and would map the slot twice).
    const asking = this.#asking.get(key);
    if (asking) await asking;
    const generation = this.client.generation;
    const held = this.#slots.get(key);
    if (held) {
      if (held.generation === generation && beatSlot(held.mapped.view, Date.now()) === "marked") {
        return;
      }
      this.#slots.delete(key);
      held.mapped.unmap();
    }
    const ask = this.#askSlot(key, entity, generation);
    const mine = ask.catch(() => {});
    this.#asking.set(key, mine);
    try {
      await ask;
    } finally {
      if (this.#asking.get(key) === mine) this.#asking.delete(key);
    }
  }

  /** A beat over the socket that asks for a slot, and the slot mapped when one is given. */
  async #askSlot(key: string, entity: string | undefined, generation: number): Promise<void> {
    const r = await this.client.request("heartbeat", { entity: entity ?? null, slot: true });
    if (!r.slot || this.#slots.has(key) || this.client.generation !== generation) return;
    try {
      const { mapBeatSlot } = await import("../os/beat_slot_file.ts");
      if (this.#slots.has(key)) return;
      this.#slots.set(key, { mapped: mapBeatSlot(r.slot), generation });
    } catch {
      // The file cannot be opened or mapped (another user's HAM): beat over the socket.
      this.#noSlots = true;
    }
  }

  /** True while beats may use slots: a local HAM, and FFI permitted to map them. */
  #slotsPossible(): boolean {
    if (this.#noSlots || this.client.socketPath === "") return false;
    if (this.#ffi === null) {
      try {
        this.#ffi = Deno.permissions.querySync({ name: "ffi" }).state === "granted";
      } catch {
        this.#ffi = false;
      }
    }
    return this.#ffi;
  }

  /** Publishes entity `entity`'s new state (`ham_entity_condition_state`). */
  state(entity: string, to: number): Promise<StateResult> {
    return this.client.request("state", { entity, to });
  }

  /** Raises a condition about `entity` (`ham_entity_condition_raise`). */
  async raise(entity: string, fields: RaiseFields = {}): Promise<void> {
    await this.client.request("raise", { entity, ...raiseFields(fields) });
  }

  /**
   * Waits until `entity` is running, dead, restarted or detached, or a condition of a type
   * fires on it. With `since` (a `seq` taken before causing the change), an event already
   * past counts too. Throws ETIMEDOUT after `timeoutMs` (default 30 s).
   */
  wait(
    entity: string,
    target: WaitFor,
    opts: { timeoutMs?: number; since?: number } = {},
  ): Promise<WaitResult> {
    const timeoutMs = opts.timeoutMs ?? DEFAULTS.waitTimeoutMs;
    return this.client.request(
      "wait",
      { entity, for: target, timeoutMs, since: opts.since ?? null },
      { timeoutMs: timeoutMs === 0 ? 0 : timeoutMs + 5_000 },
    );
  }

  /** Kept events with `seq >= since`, oldest first, at most `limit`, optionally of one entity. */
  events(opts: { since?: number; entity?: string; limit?: number } = {}): Promise<EventsResult> {
    return this.client.request("events", {
      since: opts.since ?? 0,
      entity: opts.entity ?? null,
      limit: opts.limit ?? DEFAULTS.eventsLimit,
    });
  }

  /**
   * Follows the event stream, from `since` (default: from now), optionally of one entity.
   * With `channel`, only the notify actions delivered to that channel (the QNX pulse
   * analogue); without `since`, a channel subscriber first gets the channel's backlog (a
   * named `subscriber`: what it missed since it last received one). Events that are no
   * longer kept are reported to `onSkipped` and the stream carries on. The subscription
   * ends when the HAM drops it for lagging (its backlog passed 4 MiB: `endReason` is
   * `"lagged"`; subscribe again from `resumeFrom`), or when the connection ends for good. On a
   * connection that self-attached, it survives a takeover: it is opened again on the new
   * connection where it stopped.
   */
  subscribe(opts: SubscribeOptions = {}): Promise<Subscription> {
    return Subscription.open(this.client, opts);
  }

  /** Checks that the HAM answers. */
  async ping(): Promise<void> {
    await this.client.request("ping");
  }

  /** Closes the connection (`ham_disconnect`). */
  close(): void {
    this.client.close();
    this.#unmapSlots();
  }

  /** Closes the connection and waits until it has ended. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.client[Symbol.asyncDispose]();
    this.#unmapSlots();
  }

  #unmapSlots(): void {
    for (const held of this.#slots.values()) held.mapped.unmap();
    this.#slots.clear();
  }
}

/**
 * Asks the HAM to stop. A connection that ends before the answer arrives counts as
 * stopped: the HAM may close its connections before it gets to answer.
 */
export async function requestStop(client: HamClient): Promise<void> {
  try {
    await client.request("stop");
  } catch (err) {
    if (!(err instanceof HamError && err.code === "ECONNRESET")) throw err;
  }
}

/**
 * Connects to the HAM of a state directory (`ham_connect`). Throws EBADF when no HAM runs
 * there.
 *
 * @example
 * ```ts
 * import { connect } from "./ham.ts";
 *
 * export async function keepSleeping(stateDir: string): Promise<void> {
 *   await using ham = await connect({ stateDir });
 *   const web = await ham.attach("sleeper", { argv: ["/bin/sleep", "1000"] });
 *   const death = await web.condition("death", "death", { flags: ["rearm"] });
 *   await death.restart("restart", { flags: ["rearm"] });
 * }
 * ```
 */
export async function connect(
  opts: ConnectOptions & { reattachWithinMs?: number } = {},
): Promise<Ham> {
  return new Ham(await HamClient.connect({ client: "lib", ...opts }), opts);
}
