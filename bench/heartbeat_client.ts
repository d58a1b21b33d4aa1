/**
 * A client process of the heartbeat-cost benchmark: one connection to the HAM on which it
 * attaches its own pid as COUNT entities (`PREFIX-0` … `PREFIX-<COUNT-1>`: a process may be
 * several entities by pid, though it self-attaches as one) with a heartbeat of PERIOD_MS
 * and missed-low at 1 (so that a single empty period is reported), prints `ready`, and
 * then beats each entity by name HZ times a second, in ten
 * slices per beat interval so the beats are spread rather than sent in one burst. With
 * `noreply`, the beats ask for no answer (`heartbeat(name, { reply: false })`). When
 * its stdin ends it prints one JSON line (`{ beats, errors, maxLagMs, seconds }`: beats
 * answered (sent, without replies), beats refused, how late its own timer ran at worst,
 * and for how long it beat) and exits.
 *
 * Run: bin/deno run --allow-read --allow-write --allow-net --allow-env bench/heartbeat_client.ts STATE_DIR PREFIX COUNT HZ PERIOD_MS [reply|noreply]
 *
 * @module
 */

import { connect } from "../lib/client/ham.ts";

const SLICES = 10;
/** Attach requests in flight at once (the HAM journals them in group commits). */
const ATTACH_BATCH = 200;

const [stateDir, prefix, countText, hzText, periodText, mode = "reply"] = Deno.args;
if (periodText === undefined) {
  console.error("Usage: heartbeat_client.ts STATE_DIR PREFIX COUNT HZ PERIOD_MS [reply|noreply]");
  Deno.exit(2);
}
const count = Number(countText);
const intervalMs = 1000 / Number(hzText);
const heartbeat = { periodMs: Number(periodText), low: 1, high: 0 };
const names = Array.from({ length: count }, (_, i) => `${prefix}-${i}`);

const ham = await connect({ stateDir, client: prefix, timeoutMs: 120_000 });
for (let i = 0; i < names.length; i += ATTACH_BATCH) {
  await Promise.all(
    names.slice(i, i + ATTACH_BATCH).map((n) => ham.attach(n, { pid: Deno.pid }, { heartbeat })),
  );
}
console.log("ready");

let beats = 0;
let errors = 0;
let maxLagMs = 0;
const sliceMs = intervalMs / SLICES;
const perSlice = Math.ceil(count / SLICES);
const start = performance.now();
let slice = 0;

function beatSlice(): void {
  const due = start + slice * sliceMs;
  maxLagMs = Math.max(maxLagMs, performance.now() - due);
  const from = (slice % SLICES) * perSlice;
  for (const name of names.slice(from, from + perSlice)) {
    const beat = mode === "noreply"
      ? ham.heartbeat(name, { reply: false })
      : mode === "slot"
      ? ham.heartbeat(name)
      : ham.client.request("heartbeat", { entity: name }, { timeoutMs: 0 });
    beat.then(
      () => void beats++,
      () => void errors++,
    );
  }
  slice++;
  timer = setTimeout(beatSlice, Math.max(0, start + slice * sliceMs - performance.now()));
}
let timer: ReturnType<typeof setTimeout> = setTimeout(beatSlice, 0);

for await (const _ of Deno.stdin.readable) { /* until the benchmark closes stdin */ }
clearTimeout(timer);
const seconds = (performance.now() - start) / 1000;
console.log(JSON.stringify({ beats, errors, maxLagMs, seconds }));
// Exiting closes the connection: to the HAM, the deaths of the entities.
Deno.exit(0);
