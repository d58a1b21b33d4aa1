/**
 * The one-line-per-entity view of `hamctl list` (as `pm2 ls` or `systemctl list-units`):
 * name, pid, state, restarts, uptime and last exit. Pure: the caller says when each
 * entity's process started.
 *
 * @module
 */

import type { Entity, HamState, LastExit } from "./model.ts";

/**
 * One row of `list`.
 *
 * @example
 * ```ts
 * import type { ListRow } from "./list_view.ts";
 *
 * const row: ListRow = {
 *   name: "web",
 *   pid: 4242,
 *   state: "running",
 *   restarts: 2,
 *   deaths: 2,
 *   uptimeMs: 61_000,
 *   lastExit: { pid: 4100, code: null, signal: "SIGKILL", at: 0 },
 * };
 * console.log(`${row.name} ${row.state} restarts=${row.restarts}`); // "web running restarts=2"
 * ```
 */
export interface ListRow {
  /** The entity's name. */
  name: string;
  /** Its process, or null. */
  pid: number | null;
  /**
   * `disabled` (whatever its process), `running`, `placeholder` (never had one), `dead`;
   * `remote`: a cluster entity another node runs.
   */
  state: "running" | "dead" | "placeholder" | "disabled" | "remote";
  /** Times it was restarted. */
  restarts: number;
  /** Times its process died. */
  deaths: number;
  /** How long its process has been running, in ms; null when none or unknown. */
  uptimeMs: number | null;
  /** Its last death: `{ pid, code, signal, at }` (at in ms since the epoch), or null. */
  lastExit: LastExit | null;
  /** For a cluster entity (`ham --cluster`): the node running it, or null while none does. */
  node?: string | null;
}

/** What an entity is doing, as `list` shows it. */
export type ListState = ListRow["state"];

/** The state of an entity as `list` shows it. */
export function listState(e: Entity): ListState {
  if (!e.enabled) return "disabled";
  if (e.pid !== null) return "running";
  return e.kind === "placeholder" ? "placeholder" : "dead";
}

/** The rows of `list`, in creation order, without the global entity. */
export function listRows(
  state: HamState,
  startedAt: (e: Entity) => number | null,
  now: number,
): ListRow[] {
  const rows: ListRow[] = [];
  for (const e of state.entities.values()) {
    if (e.kind === "global") continue;
    const since = e.pid === null ? null : startedAt(e);
    rows.push({
      name: e.name,
      pid: e.pid,
      state: listState(e),
      restarts: e.restarts,
      deaths: e.deaths,
      uptimeMs: since === null ? null : Math.max(0, now - since),
      lastExit: e.lastExit,
    });
  }
  return rows;
}

/** A duration as `list` shows it: `45s`, `12m`, `3h`, `2d`. */
export function shortDuration(ms: number): string {
  const s = Math.floor(ms / 1000);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m`;
  if (s < 86400) return `${Math.floor(s / 3600)}h`;
  return `${Math.floor(s / 86400)}d`;
}

/** A last exit as `list` shows it: `code 1`, `SIGKILL`, `unknown`, or `-`. */
export function exitText(x: LastExit | null): string {
  if (x === null) return "-";
  if (x.signal !== null) return x.signal;
  return x.code === null ? "unknown" : `code ${x.code}`;
}

/** The table: a header line, then one aligned line per entity. */
export function renderList(rows: readonly ListRow[]): string {
  const clustered = rows.some((r) => r.node !== undefined);
  const table = [
    ["NAME", "PID", "STATE", "RESTARTS", "UPTIME", "LAST EXIT", ...(clustered ? ["NODE"] : [])],
    ...rows.map((r) => [
      r.name,
      r.pid === null ? "-" : String(r.pid),
      r.state,
      String(r.restarts),
      r.uptimeMs === null ? "-" : shortDuration(r.uptimeMs),
      exitText(r.lastExit),
      ...(clustered ? [r.node === undefined ? "" : r.node ?? "-"] : []),
    ]),
  ];
  const widths = table[0].map((_, i) => Math.max(...table.map((row) => row[i].length)));
  return table.map((row) =>
    row.map((c, i) => i === row.length - 1 ? c : c.padEnd(widths[i])).join("  ")
  )
    .join("\n");
}
