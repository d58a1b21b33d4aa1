/**
 * Metrics with real processes: `hamctl metrics` and `ham --metrics-listen` print the
 * Prometheus text format with every required family, counting deaths, restarts, firings,
 * action failures and takeovers; the HAM a Guardian becomes serves them on, and hundreds
 * of idle connections to it neither starve it nor take the HAM's descriptors.
 */

import { deepEqual as assertEquals, match as assertMatch, ok as assert } from "node:assert/strict";
import { DEFAULTS } from "../../lib/core/defaults.ts";
import { deadline, HamProcess, until } from "../support/ham_process.ts";

const opts = { sanitizeOps: false, sanitizeResources: false };

function freePort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return port;
}

/** The value of a sample line `name{labels} value`, or undefined. */
function sample(text: string, series: string): number | undefined {
  const line = text.split("\n").find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

async function scrape(port: number): Promise<string> {
  const r = await fetch(`http://127.0.0.1:${port}/metrics`);
  assertEquals(r.status, 200);
  assertMatch(r.headers.get("content-type") ?? "", /^text\/plain; version=0\.0\.4/);
  return await r.text();
}

Deno.test(
  "hamctl metrics and /metrics count deaths, restarts, firings, failures, takeovers",
  opts,
  async () => {
    const port = freePort();
    await using ham = await HamProcess.start({ args: ["--metrics-listen", `127.0.0.1:${port}`] });
    await ham.ok("attach", "web", "--", "/bin/sleep", "1000");
    await ham.ok("condition", "web/death", "death", "--rearm");
    await ham.ok("action", "web/death/restart", "restart", "--rearm");
    await ham.ok(
      "action",
      "web/death/fails",
      "execute",
      "--rearm",
      "--keep-on-fail",
      "--",
      "/bin/false",
    );
    const pid = (await ham.ok("status", "web", "--json")).pid;
    await ham.ok("kill", "web", "--signal", "KILL");
    await ham.ok("wait", "web", "--for", "restarted", "--pid", String(pid));
    const text = (await ham.ctl("metrics")).stdout;
    for (
      const name of [
        "ham_entities",
        "ham_entity_up",
        "ham_entity_restarts_total",
        "ham_entity_deaths_total",
        "ham_condition_fired_total",
        "ham_action_failures_total",
        "ham_takeovers_total",
      ]
    ) {
      assertMatch(text, new RegExp(`^# TYPE ${name} (gauge|counter)$`, "m"));
    }
    assertMatch(text, /^# TYPE ham_journal_fsync_seconds histogram$/m);
    assertEquals(sample(text, "ham_entities"), 1);
    assertEquals(sample(text, 'ham_entity_up{entity="web"}'), 1);
    assertEquals(sample(text, 'ham_entity_restarts_total{entity="web"}'), 1);
    assertEquals(sample(text, 'ham_entity_deaths_total{entity="web"}'), 1);
    assertEquals(sample(text, 'ham_condition_fired_total{entity="web",condition="death"}'), 1);
    await until(async () => {
      const t = (await ham.ctl("metrics")).stdout;
      return sample(
            t,
            'ham_action_failures_total{entity="web",condition="death",action="fails"}',
          ) === 1 || null;
    }, "the failed execute to be counted");
    const fsyncs = sample(text, "ham_journal_fsync_seconds_count")!;
    assert(fsyncs > 0 && sample(text, 'ham_journal_fsync_seconds_bucket{le="+Inf"}') === fsyncs);
    const http = await scrape(port);
    assertEquals(sample(http, 'ham_entity_restarts_total{entity="web"}'), 1);
    assertEquals(sample(http, "ham_takeovers_total"), 0);
    assertEquals(
      await fetch(`http://127.0.0.1:${port}/other`).then(async (
        r,
      ) => (await r.body?.cancel(), r.status)),
      404,
    );
    // After a takeover, the new HAM serves the same address.
    const old = await ham.killHam();
    await ham.waitTakeover(old);
    const after = await until(
      async () => await scrape(port).catch(() => null),
      "the new HAM's /metrics",
    );
    assertEquals(sample(after, "ham_takeovers_total"), 1);
    assertEquals(sample(after, 'ham_entity_up{entity="web"}'), 1);
  },
);

Deno.test("ham --metrics-listen refuses a malformed address naming the option", async () => {
  const out = await new Deno.Command(new URL("../../bin/ham", import.meta.url).pathname, {
    args: ["--state-dir", "/nonexistent/ham", "--metrics-listen", "localhost"],
    stdout: "null",
    stderr: "piped",
  }).output();
  assertEquals(out.code, 2);
  assertMatch(
    new TextDecoder().decode(out.stderr),
    /^ham: Invalid --metrics-listen "localhost": expected HOST:PORT/,
  );
});

/** Resolves once the peer has closed `conn` (EOF or a reset). */
async function closedByPeer(conn: Deno.Conn): Promise<void> {
  const buf = new Uint8Array(1024);
  try {
    while (await conn.read(buf) !== null) { /* an answer to nothing: keep reading */ }
  } catch { /* reset */ }
}

Deno.test(
  "ham --metrics-listen outlives hundreds of idle connections, closing them, and still answers",
  opts,
  async () => {
    const port = freePort();
    // 256 descriptors: the HAM used to die of EMFILE (Deno.serve's accept loop) near 240
    // idle connections.
    await using ham = await HamProcess.start({
      args: ["--metrics-listen", `127.0.0.1:${port}`],
      guardian: false,
      wrapper: ["prlimit", "--nofile=256:256", "--"],
    });
    const hamPid = await ham.hamPid();
    const idle: Deno.Conn[] = [];
    try {
      for (let i = 0; i < 400; i++) {
        idle.push(await Deno.connect({ hostname: "127.0.0.1", port }));
        if (i % 100 === 99) await ham.ok("ping");
      }
      await ham.ok("ping");
      // A scrape is answered meanwhile (it takes the place of an idle connection).
      const text = await until(
        () => scrape(port).catch(() => null),
        "a scrape past 400 idle connections",
      );
      assertEquals(sample(text, "ham_entities"), 0);
      // Every idle connection is closed: those past the cap at once, the rest after the
      // time a request head has.
      await deadline(
        Promise.all(idle.map(closedByPeer)),
        DEFAULTS.metricsRequestTimeoutMs + 10_000,
        "the HAM to close 400 idle metrics connections",
      );
      await ham.ok("ping");
      assertEquals(await ham.hamPid(), hamPid);
      assertEquals(sample(await scrape(port), "ham_entities"), 0);
    } finally {
      for (const c of idle) {
        try {
          c.close();
        } catch { /* closed */ }
      }
    }
  },
);
