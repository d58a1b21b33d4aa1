/**
 * Compound restart, after QNX's `addnfs.c`: a server whose dependants must be set up again
 * after it restarts. The server (examples/workers/slow_server.sh) takes 0.3 s to start and
 * then creates DIR/server.ready, as a server would create its socket. Its re-armed death
 * condition runs, in order: remove the stale ready path, restart the server, wait for the
 * ready path to appear again (up to 5 s), then re-"mount" two dependants (append a line to
 * DIR/mounts.log, with the server's pid). The waitfor and the mounts are also do-now, so
 * they run once at registration too, against the first server. The server is killed; the
 * mounts follow its restart only once it is ready. Prints a timeline in ms; exits 0 when
 * that happened, 1 when it did not.
 *
 * Run: bin/deno run --allow-read --allow-write --allow-net --allow-run --allow-env --allow-ffi --allow-sys examples/compound_restart.ts
 *
 * @module
 */

import { connect, type HamEvent } from "../mod.ts";
import { describeEvent, ExampleHam, nextEvent, REPO } from "./support/example_ham.ts";
import { runScenario, ScenarioError } from "./support/scenario.ts";

const ENTITY = "fs-nfs2";
const EXPORTS = ["a", "b"];
/** How long the server takes to become ready, in seconds. */
const STARTUP_S = 0.3;

function mountCommand(exportName: string, log: string): string[] {
  return [
    "/bin/sh",
    "-c",
    'echo "mount /export/$1 (server pid $HAM_PID)" >>"$2"',
    "sh",
    exportName,
    log,
  ];
}

if (import.meta.main) {
  await runScenario("compound restart (addnfs.c): restart, wait for ready, remount", async (tl) => {
    await using h = await ExampleHam.start(tl);
    const ready = `${h.stateDir}/server.ready`;
    const mounts = `${h.stateDir}/mounts.log`;
    await using watcher = await connect({ stateDir: h.stateDir, client: "watch" });
    const events = await watcher.subscribe({ entity: ENTITY });
    const seen = (ev: HamEvent) => {
      if (ev.type === "attach") return; // Already on the timeline, from attach's answer.
      tl.mark(describeEvent(ev), ev.at);
      if (ev.type === "action" && !ev.detail?.ok) {
        throw new ScenarioError(`Action ${ev.condition}/${ev.action} to succeed`);
      }
    };
    const lastMount = (now: boolean) => (ev: HamEvent) =>
      ev.action === `mount-${EXPORTS.at(-1)}` && (ev.detail?.now === true) === now;

    const server = await h.ham.attach(ENTITY, {
      argv: ["/bin/sh", `${REPO}examples/workers/slow_server.sh`, ready, String(STARTUP_S)],
    });
    h.track(server.pid);
    tl.mark(`attached "${ENTITY}" (examples/workers/slow_server.sh): pid ${server.pid}`);
    const death = await server.condition("death", "death", { flags: ["rearm"] });
    await death.execute("clear-stale", ["/bin/rm", "-f", ready], { flags: ["rearm"] });
    await death.restart("restart", { flags: ["rearm"] });
    await death.waitfor("wait-ready", 5_000, ready, { flags: ["rearm", "do-now"] });
    for (const name of EXPORTS) {
      await death.execute(`mount-${name}`, mountCommand(name, mounts), {
        flags: ["rearm", "do-now"],
      });
    }
    tl.mark(
      `added ${ENTITY}/death: clear-stale, restart, wait-ready (do-now), ` +
        `${EXPORTS.map((e) => `mount-${e}`).join(", ")} (do-now), all rearm`,
    );
    await nextEvent(events, lastMount(true), 5_000, "the do-now mounts", seen);
    const first = Deno.readTextFileSync(mounts).trim().split("\n");
    tl.check(
      first.length === EXPORTS.length && first.every((l) => l.includes(`pid ${server.pid})`)),
      `the do-now actions mounted ${EXPORTS.length} exports for pid ${server.pid}`,
    );

    const killedAt = Date.now();
    Deno.kill(server.pid!, "SIGKILL");
    tl.mark(`kill -KILL ${server.pid} (${ENTITY})`, killedAt);
    const restart = await nextEvent(events, (e) => e.type === "restart", 5_000, "restart", seen);
    const newPid = restart.detail?.pid as number;
    h.track(newPid);
    const waited = await nextEvent(events, (e) => e.action === "wait-ready", 5_000, "ready", seen);
    await nextEvent(events, lastMount(false), 5_000, "the remounts", seen);
    tl.mark(
      `kill -> restarted ${Math.round(restart.at - killedAt)} ms, -> ready ${
        Math.round(waited.at - killedAt)
      } ms, ` +
        `-> remounted ${Date.now() - killedAt} ms`,
    );
    tl.check(
      waited.at - restart.at >= STARTUP_S * 1000 * 0.8,
      `wait-ready held the mounts until the server was ready (${
        Math.round(waited.at - restart.at)
      } ms)`,
    );
    const all = Deno.readTextFileSync(mounts).trim().split("\n");
    tl.check(
      all.length === 2 * EXPORTS.length &&
        all.slice(EXPORTS.length).every((l) => l.includes(`pid ${newPid})`)),
      `the exports were mounted again for the new pid ${newPid}`,
    );
    tl.mark("DIR/mounts.log:");
    tl.block(all.join("\n"));
    await h.stop();
  });
}
