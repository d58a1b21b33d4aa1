/**
 * The benchmarks run end to end: `bench/main.ts --quick --json` as a real process (real
 * HAMs on temporary state directories), every figure present and a number in range. No
 * timing is asserted: the figures of a quick run mean little, and machines differ.
 */

import { DAEMON_PERMISSIONS } from "../../lib/os/self_command.ts";
import { deepEqual as assertEquals, ok as assert } from "node:assert/strict";
import { etcdBinary } from "../support/etcd_process.ts";

const ROOT = new URL("../../", import.meta.url).pathname;
const PERMISSIONS = DAEMON_PERMISSIONS;

/** The figures every run reports (a full run adds `memory.rss_1000`). */
/** True when `openssl` is installed (bench/cross_node_notify.ts needs it). */
function hasOpenssl(): boolean {
  return ["/usr/bin/openssl", "/usr/local/bin/openssl"].some((p) => {
    try {
      return Deno.statSync(p).isFile;
    } catch {
      return false;
    }
  });
}

const EXPECTED = [
  "death.received",
  "death.stamped",
  "death.detected",
  "death.floor",
  "restart.running",
  "restart.floor",
  "restart.bare",
  "restart.bare.posix",
  "request.ping",
  "request.status",
  "cli.hamctl_ping",
  "cli.hamctl_status",
  "cli.cat_status_file",
  "cli.deno_floor",
  "memory.rss_1",
  "memory.rss_100",
  "memory.pss_100",
  "memory.pss_anon_100",
  "memory.deno_floor",
  "idle_cpu.ticks",
  "idle_cpu.sched",
  "fleet.start",
  "event.latency",
  "heartbeat.lateness",
  "heartbeat.cpu_fast",
  "heartbeat.cpu_fast_noreply",
  "heartbeat.cpu_fast_socket",
  "heartbeat.cpu_slow",
  "heartbeat.cpu_slow_noreply",
  "heartbeat.cpu_slow_socket",
  "snapshot-encode-1000",
  "snapshot-delta-1000",
  "snapshot-decode-1000",
  "snapshot-write-1000",
  "snapshot-size-1000",
  "snapshot-json-encode-1000",
  "snapshot-json-decode-1000",
  "journal-throughput-1",
  "journal-throughput-10",
  "takeover-answer-10",
  "takeover-handled-10",
  "takeover-cpu-10",
  "status-full-10",
  "hostile.unread_output_rss",
  "hostile.request_under_flood",
  "hostile.change_cost_10k",
  "status.full_1000",
  "status.full_floor_1000",
  "status.change",
  "status.change_full",
  "catch_up.ping",
  "catch_up.ping_floor",
  "catch_up.replay",
  "catch_up.rss",
  // With etcd installed (.ci/run installs it): the cross-node failover.
  ...(etcdBinary() === null ? [] : ["cluster.failover", "cluster.overlaps"]),
  // With openssl installed (.ci/run installs it): a notify forwarded to another node.
  ...(hasOpenssl() ? ["cross_node.notify"] : []),
];

interface Figure {
  id: string;
  n: number;
  median: number;
  p95: number;
}

Deno.test("bench/main.ts --quick --json reports a positive finite number for every figure", async () => {
  const out = await new Deno.Command(`${ROOT}bin/deno`, {
    args: ["run", ...PERMISSIONS, `${ROOT}bench/main.ts`, "--quick", "--json"],
    cwd: ROOT,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const stdout = new TextDecoder().decode(out.stdout);
  const stderr = new TextDecoder().decode(out.stderr);
  assertEquals(out.code, 0, `bench exited ${out.code}:\n${stderr}`);
  const result = JSON.parse(stdout) as { quick: boolean; figures: Figure[] };
  assertEquals(result.quick, true);
  assertEquals(result.figures.map((f) => f.id).sort(), [...EXPECTED].sort());
  for (const f of result.figures) {
    assert(Number.isSafeInteger(f.n) && f.n >= 1, `${f.id}: N ${f.n}`);
    for (const [name, v] of [["median", f.median], ["p95", f.p95]] as const) {
      // An idle HAM may well use no CPU at all over the quick run's window, and a missed
      // heartbeat can be seen a fraction of a millisecond before its computed deadline.
      // No overlap between copies is the target: 0. One change may cost less CPU than the
      // clock's tick, and the HAM's memory under the unread-output attack or during a catch-up
      // may even shrink.
      const inRange = f.id === "hostile.unread_output_rss" || f.id === "catch_up.rss"
        ? true
        : f.id.startsWith("idle_cpu.") || f.id === "cluster.overlaps" ||
            f.id === "hostile.change_cost_10k"
        ? v >= 0
        : f.id === "heartbeat.lateness"
        ? v > -50
        : v > 0;
      assert(Number.isFinite(v) && inRange, `${f.id}: ${name} ${v}`);
    }
    assert(f.p95 >= f.median, `${f.id}: p95 ${f.p95} below median ${f.median}`);
  }
});
