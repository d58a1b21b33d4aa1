/**
 * The results table: one row per figure (N, median, p95, target, verdict), then the notes
 * that say how to read the figures marked with a number, and the other supervisors' figures.
 *
 * @module
 */

import type { Figure } from "./stats.ts";

/** A figure's value with the precision its size deserves. */
export function formatValue(v: number): string {
  if (!Number.isFinite(v)) return String(v);
  const a = Math.abs(v);
  return v.toFixed(a < 1 ? 3 : a < 100 ? 2 : 1);
}

function verdict(f: Figure): string {
  return f.met === null ? "" : f.met ? "met" : "MISSED";
}

/** Renders the figures as a plain-text table with numbered notes. */
export function renderTable(figures: readonly Figure[]): string {
  const notes: string[] = [];
  const rows = figures.map((f) => {
    let label = f.label;
    if (f.note) {
      notes.push(f.note);
      label += ` [${notes.length}]`;
    }
    const single = f.n === 1;
    const floor = f.floor?.excess !== undefined
      ? `+${formatValue(f.floor.excess)} over ${formatValue(f.floor.median)}`
      : f.floor
      ? `${f.floor.ratio.toFixed(2)}× (p95 ${f.floor.p95Ratio.toFixed(2)}×) of ${
        formatValue(f.floor.median)
      }`
      : "";
    const load = f.load ? `${f.load.before.toFixed(1)}→${f.load.after.toFixed(1)}` : "";
    return [
      label,
      String(f.n),
      formatValue(f.median),
      single ? "" : formatValue(f.p95),
      single ? "" : formatValue(f.max),
      f.unit,
      floor,
      f.target?.text ?? "",
      verdict(f),
      load,
    ];
  });
  const head = [
    "Measurement",
    "N",
    "median",
    "p95",
    "max",
    "unit",
    "vs floor (same run)",
    "target",
    "",
    "load",
  ];
  const all = [head, ...rows];
  const widths = head.map((_, c) => Math.max(...all.map((r) => r[c].length)));
  const numeric = new Set([1, 2, 3, 4]);
  const line = (r: string[]) =>
    r.map((cell, c) => numeric.has(c) ? cell.padStart(widths[c]) : cell.padEnd(widths[c]))
      .join("  ").trimEnd();
  const out = [line(head), widths.map((w) => "-".repeat(w)).join("  ").trimEnd()];
  for (const r of rows) out.push(line(r));
  if (notes.length > 0) out.push("", ...notes.map((n, i) => `[${i + 1}] ${n}`));
  const others = figures.filter((f) => f.target?.others);
  if (others.length > 0) {
    out.push("", "Others, from the issue:");
    for (const f of others) out.push(`  ${f.label}: ${f.target!.others}`);
  }
  return out.join("\n");
}
