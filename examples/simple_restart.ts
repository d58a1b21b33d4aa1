/**
 * Simple restart, after QNX's `addinet.c`: a short program connects to the HAM, attaches
 * a daemon (here `/bin/sleep 1000` stands in for `inetd`), adds a re-armed death condition
 * with a re-armed restart action, and disconnects; the monitoring outlives it. Then the
 * daemon is killed three times: each time the HAM brings it back with a new pid, and its
 * status counts the restarts (Num Restarts: 3). Prints a timeline in ms; exits 0 when that
 * happened, 1 when it did not.
 *
 * Run: bin/deno run --allow-read --allow-write --allow-net --allow-run --allow-env --allow-ffi --allow-sys examples/simple_restart.ts
 *
 * @module
 */

import { type ActionView, connect } from "../mod.ts";
import { ExampleHam } from "./support/example_ham.ts";
import { runScenario, type Timeline } from "./support/scenario.ts";

const DAEMON = ["/bin/sleep", "1000"];
const KILLS = 3;

/** What `addinet.c` does: attach, condition, restart action, disconnect. */
async function addinet(stateDir: string, timeline: Timeline): Promise<number> {
  await using ham = await connect({ stateDir, client: "addinet" });
  const inetd = await ham.attach("inetd", { argv: DAEMON });
  timeline.mark(`attached "inetd" (${DAEMON.join(" ")}): pid ${inetd.pid}`);
  const death = await inetd.condition("death", "death", { flags: ["rearm"] });
  await death.restart("restart", { flags: ["rearm"] });
  timeline.mark(`added inetd/death (rearm) and inetd/death/restart (rearm); disconnecting`);
  return inetd.pid!;
}

if (import.meta.main) {
  await runScenario("simple restart (addinet.c): a daemon killed 3 times", async (timeline) => {
    await using h = await ExampleHam.start(timeline);
    let pid = await addinet(h.stateDir, timeline);
    h.track(pid);
    for (let i = 1; i <= KILLS; i++) {
      const since = await h.nextSeq();
      const killedAt = Date.now();
      Deno.kill(pid, "SIGKILL");
      timeline.mark(`kill #${i}: kill -KILL ${pid}`, killedAt);
      await h.ham.wait("inetd", "restarted", { since, timeoutMs: 5_000 });
      const now = await h.entity("inetd");
      h.track(now.pid);
      timeline.mark(
        `restarted: "inetd" is pid ${now.pid}, ${Date.now() - killedAt} ms after the kill`,
      );
      timeline.check(now.pid !== null && now.pid !== pid, `a new pid (${pid} -> ${now.pid})`);
      pid = now.pid!;
    }
    const inetd = await h.entity("inetd");
    timeline.check(
      inetd.restarts === KILLS,
      `restart count = ${KILLS} (Num Restarts: ${inetd.restarts})`,
    );
    const restart = await h.ham.status("inetd/death/restart") as ActionView;
    timeline.check(
      restart.runs === KILLS,
      `the restart action ran ${KILLS} times (Num Runs: ${restart.runs})`,
    );
    const status = await h.ctl("status", "inetd");
    timeline.mark("hamctl status inetd:");
    timeline.block(status.stdout);
    await h.stop();
  });
}
