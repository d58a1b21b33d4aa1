/**
 * The answer to a full `status` request, kept rendered ({@linkcode StatusAnswer}): each
 * entity's JSON is held as UTF-8 bytes and rendered again only when a record touched the
 * entity (`touchedEntities()` beside the reducer, the change tracking of the status mirror)
 * or a heartbeat field that moves without a record did, so the answer at 10,000 entities is
 * a copy of bytes, not a view, a `JSON.stringify` and an encoding of ~4 MiB. The bytes are
 * exactly those of `JSON.stringify(hamView(state, info))` ({@linkcode EncodedJson}). Pure.
 *
 * @module
 */

import { concatBytes } from "./bytes.ts";
import type { Entity, HamState } from "./model.ts";
import { entityView, type HamInfo, hamSummary, listedInView } from "./status_view.ts";

const encoder = new TextEncoder();

/**
 * A JSON object already encoded as UTF-8, in pieces (written one after the other: the
 * entities of a full status are one piece, kept between answers while none changed): the
 * server writes its bytes inside the response line instead of stringifying a value.
 *
 * @example
 * ```ts
 * import { EncodedJson } from "./status_answer.ts";
 * const e = new TextEncoder();
 * const json = new EncodedJson([e.encode('{"a":1')], e.encode("}")).withField("b", [2]);
 * console.log(new TextDecoder().decode(json.bytes())); // {"a":1,"b":[2]}
 * const line = json.response(7).map((p) => new TextDecoder().decode(p)).join("");
 * console.log(line); // {"id":7,"ok":true,"result":{"a":1,"b":[2]}}\n
 * ```
 */
export class EncodedJson {
  /** Everything but the closing bytes, in order. */
  readonly #parts: readonly Uint8Array[];
  /** The closing bytes (`}` or `]}`), after which no field can be added. */
  readonly #end: Uint8Array;
  readonly #bytes: number;

  /** The object whose bytes are `parts` then `end` (`end` holds at least its `}`). */
  constructor(parts: readonly Uint8Array[], end: Uint8Array) {
    this.#parts = parts;
    this.#end = end;
    let n = end.length;
    for (const p of parts) n += p.length;
    this.#bytes = n;
  }

  /** Its length in bytes. */
  get byteLength(): number {
    return this.#bytes;
  }

  /** The same object with `key` added last, as `{ ...obj, [key]: value }` would. */
  withField(key: string, value: unknown): EncodedJson {
    const close = this.#end.length - 1;
    const field = encoder.encode(`,${JSON.stringify(key)}:${JSON.stringify(value)}`);
    const parts = close > 0 ? [...this.#parts, this.#end.subarray(0, close)] : [...this.#parts];
    return new EncodedJson([...parts, field], encoder.encode("}"));
  }

  /** The bytes of the object, joined. */
  bytes(): Uint8Array {
    const out = new Uint8Array(this.#bytes);
    let off = 0;
    for (const p of [...this.#parts, this.#end]) {
      out.set(p, off);
      off += p.length;
    }
    return out;
  }

  /**
   * The response line that carries it, `{"id":ID,"ok":true,"result":OBJECT}` and a newline,
   * as pieces to write in order (the object's own pieces are not copied).
   */
  response(id: number): Uint8Array[] {
    const head = encoder.encode(`{"id":${id},"ok":true,"result":`);
    const [first, ...rest] = this.#parts;
    const end = new Uint8Array(this.#end.length + 2);
    end.set(this.#end);
    end.set(CLOSE_LINE, this.#end.length);
    return first === undefined ? [head, end] : [concatBytes([head, first]), ...rest, end];
  }
}

const CLOSE_LINE = encoder.encode("}\n");

/** One entity as rendered: its JSON after a comma, and what it adds to the counts. */
interface Fragment {
  /** `,` and the entity's JSON, UTF-8. */
  bytes: Uint8Array;
  conditions: number;
  actions: number;
  /** The heartbeat fields it was rendered with (they move without a record), or null. */
  beat: { lastBeat: number | null; missed: number; health: string } | null;
}

function beatOf(e: Entity): Fragment["beat"] {
  return e.heartbeat === null
    ? null
    : { lastBeat: e.lastBeat, missed: e.hbMissed, health: e.hbHealth };
}

function render(e: Entity): Fragment {
  const view = entityView(e);
  let actions = 0;
  for (const c of view.conditions) actions += c.actions.length;
  return {
    bytes: encoder.encode(`,${JSON.stringify(view)}`),
    conditions: view.conditions.length,
    actions,
    beat: beatOf(e),
  };
}

function fresh(f: Fragment, e: Entity): boolean {
  const b = f.beat;
  if (b === null) return e.heartbeat === null;
  return e.heartbeat !== null && b.lastBeat === e.lastBeat && b.missed === e.hbMissed &&
    b.health === e.hbHealth;
}

/**
 * The full status answer, kept rendered between requests: {@linkcode touch} the entities
 * each applied record changed (or {@linkcode touchAll} after a reload of the state), and
 * {@linkcode answer} renders again only those (and any whose heartbeat fields moved).
 *
 * @example
 * ```ts
 * import { createState } from "./model.ts";
 * import { applyRecord, touchedEntities } from "./reducer.ts";
 * import { hamView } from "./status_view.ts";
 * import { StatusAnswer } from "./status_answer.ts";
 * const state = createState();
 * const answers = new StatusAnswer();
 * const info = { hamPid: 1, guardianPid: null, startedAt: 0 };
 * const r = { seq: 1, t: "entity", entity: "web", flags: 0, at: 0 } as const;
 * applyRecord(state, r);
 * answers.touch(touchedEntities(r));
 * const text = new TextDecoder().decode(answers.answer(state, info).bytes());
 * console.log(text === JSON.stringify(hamView(state, info))); // true
 * ```
 */
export class StatusAnswer {
  #fragments = new Map<string, Fragment>();
  /**
   * The entities held rendered with a heartbeat: the only ones that can change without a
   * record (their heartbeat fields), so the only ones an answer checks while no record
   * touched anything since the last.
   */
  #beating = new Set<string>();
  /** The entities' part of the last answer (`,`-joined fragments, `]}` excluded), or null. */
  #body: Body | null = null;

  /** Entities held rendered. */
  get size(): number {
    return this.#fragments.size;
  }

  /** Notes entities a record changed: they are rendered again when next answered. */
  touch(names: Iterable<string>): void {
    for (const n of names) {
      this.#fragments.delete(n);
      this.#beating.delete(n);
      this.#body = null;
    }
  }

  /** Notes that anything may have changed (the state was reloaded): all is rendered again. */
  touchAll(): void {
    this.#fragments.clear();
    this.#beating.clear();
    this.#body = null;
  }

  /**
   * Renders the entities of `state` that are not held (of `names` only, when given), without
   * answering: what a Guardian does while it mirrors, so that its first answer after a
   * takeover is a copy. Returns how many it rendered.
   */
  warm(state: HamState, names?: Iterable<string>): number {
    let n = 0;
    const entities = names === undefined
      ? state.entities.values()
      : Iterator.from(names).map((name) => state.entities.get(name)).filter((e) => e !== undefined);
    for (const e of entities) {
      if (!listedInView(e)) continue;
      const f = this.#fragments.get(e.name);
      if (f !== undefined && fresh(f, e)) continue;
      this.#hold(e.name, render(e));
      this.#body = null;
      n++;
    }
    return n;
  }

  /**
   * The whole HAM's status, the bytes of `JSON.stringify(hamView(state, info))`: held
   * fragments are reused, the rest rendered (and held); when none changed since the last
   * answer, its entities' bytes are reused whole.
   */
  answer(state: HamState, info: HamInfo): EncodedJson {
    const body = this.#entities(state);
    const summary = hamSummary(state, info, body);
    // `..."entities":[]}` without its `]}`: the entities go between.
    const head = encoder.encode(JSON.stringify(summary).slice(0, -2));
    return new EncodedJson([head, body.bytes], END);
  }

  /**
   * Makes the entities' part of the next answer now (rendering what is not held, and
   * joining the fragments), so that the answer is a copy when it is asked for: a Guardian
   * does it as it mirrors, and the first full status after its takeover costs no walk of
   * every entity through code the HAM never ran.
   */
  prepare(state: HamState): void {
    this.#entities(state);
  }

  /** True when the entities' part of an answer for `state` is held joined (none touched since). */
  prepared(state: HamState): boolean {
    return this.#body !== null && this.#body.state === state;
  }

  #hold(name: string, f: Fragment): void {
    this.#fragments.set(name, f);
    if (f.beat === null) this.#beating.delete(name);
    else this.#beating.add(name);
  }

  /**
   * The last answer's entities' part when it is still right for `state`: no record touched
   * an entity since (a touch drops it), and no heartbeat field moved. O(entities with a
   * heartbeat), not O(entities): at 10,000 entities the walk of every one cost ~2 ms.
   */
  #held(state: HamState): Body | null {
    const body = this.#body;
    if (body === null || body.state !== state) return null;
    for (const name of this.#beating) {
      const f = this.#fragments.get(name);
      const e = state.entities.get(name);
      if (f === undefined || e === undefined || !fresh(f, e)) return null;
    }
    return body;
  }

  /** The entities' part of an answer for `state`, held from the last one when nothing moved. */
  #entities(state: HamState): Body {
    const held = this.#held(state);
    if (held !== null) return held;
    let body = this.#body?.state === state ? this.#body : null;
    const fragments: Uint8Array[] = [];
    let conditions = 0;
    let actions = 0;
    let bytes = 0;
    for (const e of state.entities.values()) {
      if (!listedInView(e)) continue;
      let f = this.#fragments.get(e.name);
      if (f === undefined || !fresh(f, e)) {
        f = render(e);
        this.#hold(e.name, f);
        body = null;
      }
      conditions += f.conditions;
      actions += f.actions;
      fragments.push(f.bytes);
      bytes += f.bytes.length;
    }
    const entities = fragments.length;
    if (body !== null && body.entities === entities) return body;
    // Entities gone without a touch cannot be, but the holding stays bounded by the state.
    if (this.#fragments.size > entities) this.#prune(state);
    const joined = new Uint8Array(Math.max(0, bytes - 1));
    let off = 0;
    for (let i = 0; i < fragments.length; i++) {
      const piece = i === 0 ? fragments[i].subarray(1) : fragments[i];
      joined.set(piece, off);
      off += piece.length;
    }
    this.#body = { bytes: joined, state, entities, conditions, actions };
    return this.#body;
  }

  #prune(state: HamState): void {
    for (const name of this.#fragments.keys()) {
      const e = state.entities.get(name);
      if (e !== undefined && listedInView(e)) continue;
      this.#fragments.delete(name);
      this.#beating.delete(name);
    }
  }
}

const END = encoder.encode("]}");

/** The entities' part of an answer, and the counts the summary gives. */
interface Body {
  bytes: Uint8Array;
  state: HamState;
  entities: number;
  conditions: number;
  actions: number;
}
