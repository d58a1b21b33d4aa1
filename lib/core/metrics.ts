/**
 * The HAM's metrics in the Prometheus text exposition format (version 0.0.4), as
 * `hamctl metrics` prints them and `ham --metrics-listen` serves them at `/metrics`.
 * Pure: counters come from the state (which survives takeovers: restarts, deaths,
 * firings, failures and HAM failures are journaled), the fsync histogram from the HAM.
 *
 * @module
 */

import type { HamState } from "./model.ts";
import { GLOBAL_ENTITY } from "./names.ts";

/** Upper bounds of the fsync histogram's buckets, in seconds. */
export const FSYNC_BUCKETS: readonly number[] = [
  0.0001,
  0.00025,
  0.0005,
  0.001,
  0.0025,
  0.005,
  0.01,
  0.025,
  0.05,
  0.1,
  0.25,
  0.5,
  1,
  2.5,
];

/** A cumulative histogram (Prometheus `histogram`). */
export class Histogram {
  readonly bounds: readonly number[];
  readonly counts: number[];
  count = 0;
  sum = 0;

  /** A histogram with these bucket bounds (ascending; `+Inf` is implied). */
  constructor(bounds: readonly number[]) {
    this.bounds = bounds;
    this.counts = bounds.map(() => 0);
  }

  /** Records one observation. */
  observe(value: number): void {
    this.count++;
    this.sum += value;
    for (let i = 0; i < this.bounds.length; i++) if (value <= this.bounds[i]) this.counts[i]++;
  }
}

/** A label value, escaped as the text format requires. */
export function labelValue(v: string): string {
  return v.replaceAll("\\", "\\\\").replaceAll('"', '\\"').replaceAll("\n", "\\n");
}

function num(n: number): string {
  return Number.isInteger(n) ? String(n) : String(Number(n.toPrecision(12)));
}

/** The text exposition of the HAM's metrics. */
export function renderMetrics(state: HamState, fsync: Histogram): string {
  const out: string[] = [];
  const family = (name: string, type: string, help: string) =>
    out.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
  const entities = [...state.entities.values()].filter((e) => e.name !== GLOBAL_ENTITY);
  const l = (labels: Record<string, string>) =>
    `{${Object.entries(labels).map(([k, v]) => `${k}="${labelValue(v)}"`).join(",")}}`;

  family("ham_entities", "gauge", "Entities the HAM has (the global entity not counted).");
  out.push(`ham_entities ${entities.length}`);
  family("ham_entity_up", "gauge", "1 when the entity has a running process, else 0.");
  for (const e of entities) {
    out.push(`ham_entity_up${l({ entity: e.name })} ${e.pid === null ? 0 : 1}`);
  }
  family("ham_entity_restarts_total", "counter", "Times the entity was restarted.");
  for (const e of entities) {
    out.push(`ham_entity_restarts_total${l({ entity: e.name })} ${e.restarts}`);
  }
  family("ham_entity_deaths_total", "counter", "Times the entity's process died.");
  for (const e of entities) out.push(`ham_entity_deaths_total${l({ entity: e.name })} ${e.deaths}`);
  family("ham_condition_fired_total", "counter", "Times a condition fired.");
  for (const e of state.entities.values()) {
    for (const c of e.conditions.values()) {
      out.push(`ham_condition_fired_total${l({ entity: e.name, condition: c.name })} ${c.fired}`);
    }
  }
  family("ham_action_failures_total", "counter", "Times an action failed.");
  for (const e of state.entities.values()) {
    for (const c of e.conditions.values()) {
      for (const a of c.actions) {
        const labels = l({ entity: e.name, condition: c.name, action: a.name });
        out.push(`ham_action_failures_total${labels} ${a.failures}`);
      }
    }
  }
  family("ham_takeovers_total", "counter", "Times a Guardian took over from a failed HAM.");
  out.push(`ham_takeovers_total ${state.hamFailures}`);
  family("ham_guardian_failures_total", "counter", "Times the Guardian died and was replaced.");
  out.push(`ham_guardian_failures_total ${state.guardianFailures}`);
  family(
    "ham_journal_fsync_seconds",
    "histogram",
    "Time of each journal fdatasync (this HAM process).",
  );
  fsync.bounds.forEach((b, i) =>
    out.push(`ham_journal_fsync_seconds_bucket{le="${b}"} ${fsync.counts[i]}`)
  );
  out.push(`ham_journal_fsync_seconds_bucket{le="+Inf"} ${fsync.count}`);
  out.push(`ham_journal_fsync_seconds_sum ${num(fsync.sum)}`);
  out.push(`ham_journal_fsync_seconds_count ${fsync.count}`);
  return `${out.join("\n")}\n`;
}
