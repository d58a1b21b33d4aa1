/**
 * A full disk: the state directory on a small tmpfs, the HAM's and the Guardian's log inside
 * it. Requests that need the journal get ENOSPC, reads keep working, the HAM and its Guardian
 * live on, lost log lines are counted, and service resumes by itself when space frees.
 */

import { equal, match, ok } from "node:assert/strict";
import { HamProcess } from "../support/ham_process.ts";
import { mountTmpfs } from "../support/tmpfs.ts";

const opts = { sanitizeOps: false, sanitizeResources: false };

Deno.test(
  "ham answers ENOSPC when the disk is full and resumes when space frees",
  opts,
  async () => {
    await using fs = await mountTmpfs(8 << 20, "the full-disk test");
    if (fs === null) return;
    const stateDir = `${fs.path}/state`;
    await Deno.mkdir(stateDir, { mode: 0o700 });
    await using ham = await HamProcess.start({ stateDir, args: ["--log", `${stateDir}/ham.log`] });
    const before = await ham.pids();
    await ham.ok("attach", "web", "--", "/bin/sleep", "1000");
    await ham.ok("condition", "web/death", "death", "--rearm");
    await ham.ok("action", "web/death/note", "log", "--message", "web died");
    const web = (await ham.ok("status", "web", "--json")).pid;

    const filler = await fs.fill([`${stateDir}/ham.log`]);
    // The journal's last page may still have room (tmpfs allocates pages): fill it too.
    const acknowledged: string[] = [];
    {
      await using c = await ham.client();
      for (let i = 0; i < 1000; i++) {
        const answer = await c.request("entity", { entity: `e${i}`, flags: 0 }).then(
          () => "ok",
          (err) => String(err.code),
        );
        if (answer !== "ok") {
          equal(answer, "ENOSPC");
          break;
        }
        acknowledged.push(`e${i}`);
      }
    }
    const refusedName = `e${acknowledged.length}`;
    const refused = await ham.ctl("entity", refusedName);
    equal(refused.code, 1, refused.stderr);
    match(refused.stderr, /ENOSPC/);
    // A death while the disk is full: logged (lines lost, not fatal), its records refused.
    const since = await ham.seq();
    Deno.kill(web, "SIGKILL");
    await ham.waitEvent("web", "dead", since);
    // Reads work.
    for (let i = 0; i < 3; i++) equal((await ham.ctl("status", "--json")).code, 0);
    const full = await ham.status();
    ok(full.logLinesLost > 0, `lost log lines are counted (${full.logLinesLost})`);
    equal(full.entities.some((e) => e.name === refusedName), false, "nothing refused appears");
    for (const name of acknowledged) ok(full.entities.some((e) => e.name === name), name);

    const freed = await ham.seq();
    await Deno.remove(filler);
    // The death refused while the disk was full is handled once the journal takes it.
    await ham.waitEvent("web", "detached", freed, 15_000);
    await ham.ok("entity", "db");
    const after = await ham.status();
    ok(after.entities.some((e) => e.name === "db"));
    equal(after.entities.some((e) => e.name === "web"), false, "web's death was handled");
    const pids = await ham.pids();
    equal(pids.hamPid, before.hamPid, "the HAM lived through the full disk");
    equal(pids.guardianPid, before.guardianPid, "so did its Guardian");
    const log = await Deno.readTextFile(`${stateDir}/ham.log`);
    match(log, /\d+ log lines were lost \(.*No space left on device/i);
  },
);
