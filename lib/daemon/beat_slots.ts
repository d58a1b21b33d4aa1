/**
 * The heartbeat slots the HAM hands out (`heartbeat` with `slot: true`): one slot file per
 * connection that asks (`<state>/beats/<HAM pid>-<connection id>`, see `lib/os/beat_slot_file.ts`),
 * one slot in it per entity that connection beats for, the file closed and removed with
 * the connection. A connection that cannot have slots (a remote one, FFI not permitted,
 * a full disk, its maximum or the HAM's reached) gets none, and beats over the socket.
 *
 * @module
 */

import { DEFAULTS } from "../core/defaults.ts";
import type { BeatSlot, SlotPlace } from "../core/heartbeat_slot.ts";
import type { Engine } from "../engine/engine.ts";
import { beatsDir, BeatSlotFile, beatSlotsAvailable } from "../os/beat_slot_file.ts";
import type { Connection } from "./server.ts";

/** What the slots need of the engine. */
export type SlotEngine = Pick<Engine, "heartbeatCounted" | "heartbeatSlot" | "dropHeartbeatSlot">;
/** What the slots need of a connection. */
export type SlotConnection = Pick<Connection, "id" | "credentials" | "onClose">;

/** The slots of one connection. */
interface ConnectionSlots {
  file: BeatSlotFile;
  byEntity: Map<string, { offset: number; slot: BeatSlot }>;
}

/** The heartbeat slots of every connection of a HAM on state directory `stateDir`. */
export class BeatSlots {
  #dir: string;
  #engine: SlotEngine;
  #available: boolean;
  /** By connection; null for one that asked and cannot have slots. */
  #byConn = new WeakMap<SlotConnection, ConnectionSlots | null>();
  /** Slots handed out to the connections still open. */
  #total = 0;
  #maxTotal: number;

  constructor(
    stateDir: string,
    engine: SlotEngine,
    maxTotal: number = DEFAULTS.heartbeatSlotsTotal,
  ) {
    this.#dir = beatsDir(stateDir);
    this.#engine = engine;
    this.#maxTotal = maxTotal;
    this.#available = beatSlotsAvailable();
  }

  /**
   * A slot for `entity`'s beats from `conn`'s process, armed for its accounting: the one
   * the connection already has for it, or a new one. Null when there is none to give: the
   * entity's heartbeat is not counted (no heartbeat, no process) or the connection cannot
   * have slots.
   */
  grant(conn: SlotConnection, entity: string): SlotPlace | null {
    if (!this.#available || conn.credentials === null) return null;
    // Checked first: a beat for an entity that does not heartbeat opens no file.
    if (!this.#engine.heartbeatCounted(entity)) return null;
    let slots = this.#byConn.get(conn);
    if (slots === undefined) {
      slots = this.#open(conn);
      this.#byConn.set(conn, slots);
    }
    if (slots === null) return null;
    let held = slots.byEntity.get(entity);
    if (!held) {
      if (this.#total >= this.#maxTotal) return null;
      const offset = slots.file.allocate();
      if (offset === null) return null;
      this.#total++;
      held = { offset, slot: slots.file.slot(offset) };
      slots.byEntity.set(entity, held);
    }
    if (!this.#engine.heartbeatSlot(entity, held.slot)) return null;
    return { path: slots.file.path, offset: held.offset };
  }

  #open(conn: SlotConnection): ConnectionSlots | null {
    const cred = conn.credentials;
    let file: BeatSlotFile;
    try {
      file = BeatSlotFile.create(
        `${this.#dir}/${Deno.pid}-${conn.id}`,
        DEFAULTS.heartbeatSlotsPerConnection,
        cred === null ? null : { uid: cred.uid, gid: cred.gid },
      );
    } catch {
      return null;
    }
    const slots: ConnectionSlots = { file, byEntity: new Map() };
    conn.onClose.push(() => {
      for (const [entity, held] of slots.byEntity) {
        this.#engine.dropHeartbeatSlot(entity, held.slot);
      }
      this.#total -= slots.file.used;
      slots.byEntity.clear();
      file.close();
    });
    return slots;
  }
}
