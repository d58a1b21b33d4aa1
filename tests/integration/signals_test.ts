/**
 * Signals to the HAM: SIGHUP reopens the log file (logrotate's `postrotate kill -HUP`) and
 * is logged; neither the HAM nor its Guardian ends on it.
 */

import { equal, match } from "node:assert/strict";
import { HamProcess, until } from "../support/ham_process.ts";

const opts = { sanitizeOps: false, sanitizeResources: false };

Deno.test("ham reopens its log file on SIGHUP and keeps running", opts, async () => {
  const dir = await Deno.makeTempDir({ prefix: "ham-hup-" });
  const logFile = `${dir}/ham.log`;
  try {
    await using ham = await HamProcess.start({ args: ["--log", logFile] });
    const before = await ham.pids();
    // A signal before the Guardian's runtime installed its handlers would be the default's.
    await until(async () => {
      const text = await Deno.readTextFile(logFile);
      return text.includes(`Guardian ${before.guardianPid} watching`) || null;
    }, "the Guardian to be watching");
    await Deno.rename(logFile, `${logFile}.1`);
    Deno.kill(before.hamPid, "SIGHUP");
    Deno.kill(before.guardianPid!, "SIGHUP");
    const reopened = await until(async () => {
      const text = await Deno.readTextFile(logFile).catch(() => "");
      return /HAM \d+ reopened its log on SIGHUP/.test(text) &&
          /Guardian \d+ reopened its log on SIGHUP/.test(text)
        ? text
        : null;
    }, "both to reopen the log");
    match(reopened, new RegExp(`ham\\[${before.hamPid}\\] info: HAM ${before.hamPid} reopened`));
    // The policy is read again too: without a file, the line says there is none.
    const policy = await until(async () => {
      const line = (await Deno.readTextFile(logFile)).split("\n").find((l) =>
        l.includes("Policy reloaded")
      );
      return line ?? null;
    }, "the policy's reload line");
    match(
      policy,
      new RegExp(
        `info: Policy reloaded: no policy file at "${ham.stateDir}/policy", so only root and ` +
          `the HAM's user have a role$`,
      ),
    );
    await ham.ok("entity", "after-rotation");
    const after = await ham.pids();
    equal(after.hamPid, before.hamPid, "the HAM lives on");
    equal(after.guardianPid, before.guardianPid, "so does its Guardian");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
