/**
 * The `wait` request: until an entity is running, dead, restarted or detached (with a pid:
 * running or restarted with a pid other than that one), or a condition of a type fires on
 * it; with `since`, an event already past counts too.
 *
 * @module
 */

import { HamError } from "../core/errors.ts";
import { getEntity, type HamState } from "../core/model.ts";
import type { HamEvent, RequestOf, Results } from "../core/protocol.ts";
import type { EventHub } from "./event_hub.ts";
import { collectEvents } from "./event_reader.ts";

type WaitRequest = RequestOf<"wait">;

function reached(store: { readonly state: HamState }, req: WaitRequest): boolean {
  const e = store.state.entities.get(req.entity);
  if (req.pid !== null) return e !== undefined && e.pid !== null && e.pid !== req.pid;
  if (req.for === "running") return e !== undefined && e.pid !== null;
  if (req.for === "detached") return e === undefined;
  if (req.for === "dead") return e === undefined || e.pid === null;
  return false;
}

function matches(req: WaitRequest, ev: HamEvent): boolean {
  if (ev.entity !== req.entity) return false;
  if (req.pid !== null) {
    const pid = ev.detail?.pid;
    return ["attach", "restart", "follow", "reattach"].includes(ev.type) && pid !== req.pid;
  }
  switch (req.for) {
    case "running":
      return ev.type === "attach" || ev.type === "restart" || ev.type === "follow";
    case "dead":
      return ev.type === "death" || ev.type === "remove";
    case "restarted":
      return ev.type === "restart";
    case "detached":
      return ev.type === "remove" || (ev.type === "detach");
    default:
      return ev.type === "condition" && ev.detail?.event === req.for;
  }
}

export async function waitFor(
  store: { readonly state: HamState },
  hub: EventHub,
  req: WaitRequest,
  signal?: AbortSignal,
): Promise<Results["wait"]> {
  if (req.pid !== null && req.for !== "restarted" && req.for !== "running") {
    throw new HamError(
      "EINVAL",
      `Cannot wait for "${req.for}" with a pid: only restarted or running`,
    );
  }
  if (req.pid !== null) {
    // The state answers first (at once if the entity already runs with another pid).
    getEntity(store.state, req.entity);
    if (reached(store, req)) return { entity: req.entity, reached: req.for, seq: null };
  } else if (req.since !== null) {
    if (req.since >= hub.memorySeq) {
      const past = hub.since(req.since, req.entity).find((ev) => matches(req, ev));
      if (past) return { entity: req.entity, reached: req.for, seq: past.seq };
    } else {
      // Older than the window: the log is read a chunk per turn, while listening already
      // (so an event published meanwhile is not missed).
      const found = new AbortController();
      const stop = () => found.abort();
      signal?.addEventListener("abort", stop, { once: true });
      const live = hub.waitFor((e) => matches(req, e), req.timeoutMs, found.signal);
      const past = await collectEvents(
        hub,
        req.since,
        { entity: req.entity },
        1,
        (ev) => matches(req, ev) && !found.signal.aborted,
      );
      if (past.events.length > 0) found.abort();
      const ev = past.events[0] ?? await live;
      signal?.removeEventListener("abort", stop);
      return answer(req, ev, signal);
    }
  } else if (reached(store, req)) {
    return { entity: req.entity, reached: req.for, seq: null };
  }
  return answer(req, await hub.waitFor((e) => matches(req, e), req.timeoutMs, signal), signal);
}

/** What a wait waits for, as words: `to be running`, `to have a death condition fire`. */
function awaited(what: string): string {
  return ["running", "dead", "restarted", "detached"].includes(what)
    ? `to be ${what}`
    : `to have a ${what} condition fire`;
}

function answer(
  req: WaitRequest,
  ev: HamEvent | null,
  signal: AbortSignal | undefined,
): Results["wait"] {
  if (!ev && signal?.aborted) {
    throw new HamError(
      "ECANCELED",
      `Cannot wait for entity "${req.entity}": the connection closed`,
    );
  }
  if (!ev) {
    throw new HamError(
      "ETIMEDOUT",
      `Timed out after ${req.timeoutMs} ms waiting for entity "${req.entity}" ${awaited(req.for)}`,
    );
  }
  return { entity: req.entity, reached: req.for, seq: ev.seq };
}
