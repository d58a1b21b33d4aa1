/**
 * A worker for the examples: appends a tick line (`<ms since epoch> <pid> tick <n>`) to
 * FILE at once and then every PERIOD ms (default 200), until it is killed. The demo has
 * the HAM start it, kills it, and reads the file to see who is ticking.
 *
 * Run: bin/deno run --allow-write examples/workers/ticker.ts FILE [PERIOD_MS]
 *
 * @module
 */

const [file, periodText = "200"] = Deno.args;
if (file === undefined) {
  console.error("Usage: ticker.ts FILE [PERIOD_MS]");
  Deno.exit(2);
}
const period = Number(periodText);
let n = 0;
const tick = () => {
  Deno.writeTextFileSync(file, `${Date.now()} ${Deno.pid} tick ${n++}\n`, { append: true });
};
tick();
setInterval(tick, period);
