/**
 * `ham --foreground` as PID 1 of a PID namespace (`unshare --pid --fork --mount-proc`, as in
 * a container): a keeper with the HAM and its Guardian as children, which reaps the orphans a
 * dead HAM leaves, and stops everything in order on SIGTERM (`docker stop`), exiting 0.
 */

import { processStat, readCmdline } from "../../lib/os/proc.ts";
import { readFileBytes } from "../../lib/os/proc_fs.ts";
import { deepEqual as assertEquals, ok as assert } from "node:assert/strict";
import { BIN, deadline, hamctl, pidsOf, processesOf, until } from "../support/ham_process.ts";

const opts = { sanitizeOps: false, sanitizeResources: false };

// /proc is read through libc (lib/os/proc_fs.ts): Deno asks for --allow-all to read most
// of /proc itself, and the test task grants named permissions only.

/** The children of `pid` (`/proc/PID/task/PID/children`). */
function children(pid: number): number[] {
  const bytes = readFileBytes(`/proc/${pid}/task/${pid}/children`);
  if (bytes === null) return [];
  return new TextDecoder().decode(bytes).trim().split(/\s+/).filter((x) => x !== "").map(Number);
}

function cmdline(pid: number): string {
  return readCmdline(pid)?.join(" ") ?? "";
}

function state(pid: number): string | null {
  return processStat(pid)?.state ?? null;
}

async function canUnshare(): Promise<boolean> {
  const r = await new Deno.Command("unshare", {
    args: ["--pid", "--fork", "--mount-proc", "/bin/true"],
    stdout: "null",
    stderr: "null",
  }).output().catch(() => null);
  return r !== null && r.code === 0;
}

Deno.test(
  "ham --foreground as PID 1 reaps orphans and stops in order on SIGTERM",
  opts,
  async () => {
    if (!await canUnshare()) {
      console.log("skipped: unshare --pid --fork --mount-proc is not permitted here (needs root)");
      return;
    }
    const dir = await Deno.makeTempDir({ prefix: "ham-test-" });
    const ns = new Deno.Command("unshare", {
      args: ["--pid", "--fork", "--mount-proc", `${BIN}/ham`, "--foreground", "--state-dir", dir],
      env: { HAM_STATE_DIR: dir },
      stdin: "null",
      stdout: "null",
      stderr: "null",
    }).spawn();
    try {
      const inside = await until(
        () => pidsOf(dir).then((p) => p.guardianPid === null ? null : p),
        "the HAM in the namespace",
        20_000,
      );
      assertEquals(inside.hamPid > 1, true); // The HAM is not PID 1: the keeper is.
      const keeper = await until(
        () => Promise.resolve(children(ns.pid)[0] ?? null),
        "the keeper",
        20_000,
      );
      const ham = children(keeper).find((p) => cmdline(p).includes(" ham --foreground"));
      assert(ham !== undefined, `the HAM is the keeper's child: ${children(keeper).map(cmdline)}`);
      const attached = await hamctl(
        dir,
        "attach",
        "w",
        "--keep-on-death",
        "--",
        "/bin/sleep",
        "1000",
      );
      assertEquals(attached.code, 0, attached.stderr);
      // The HAM dies: its Guardian takes over; the HAM's children are re-parented to PID 1.
      Deno.kill(ham, "SIGKILL");
      await until(
        () =>
          pidsOf(dir).then((p) => p.hamPid !== inside.hamPid && p.guardianPid !== null ? p : null),
        "the takeover",
        20_000,
      );
      const worker = await until(
        () =>
          Promise.resolve(
            children(keeper).find((p) => cmdline(p).startsWith("/bin/sleep 1000")) ?? null,
          ),
        "the worker under PID 1",
        20_000,
      );
      Deno.kill(worker, "SIGKILL");
      // PID 1 reaps it: it does not linger as a zombie.
      await until(
        () => Promise.resolve(state(worker) === null || null),
        `pid ${worker} reaped (state ${state(worker)})`,
        10_000,
      );
      // docker stop: SIGTERM to PID 1 is an orderly stop, and everything ends.
      Deno.kill(keeper, "SIGTERM");
      const status = await deadline(ns.status, 30_000, "the namespace to end");
      assertEquals(status.code, 0);
      assertEquals(await processesOf(dir), []);
    } finally {
      try {
        ns.kill("SIGKILL");
      } catch {
        /* ended */
      }
      await ns.status;
      for (const pid of await processesOf(dir)) Deno.kill(pid, "SIGKILL");
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    }
  },
);

Deno.test("contrib/Containerfile runs ham --foreground as PID 1", async () => {
  const file = await Deno.readTextFile(new URL("../../contrib/Containerfile", import.meta.url));
  assert(
    /^ENTRYPOINT \[.*"ham", "--foreground"/m.test(file) ||
      /^ENTRYPOINT \[".*\/bin\/ham", "--foreground"/m.test(file),
    file,
  );
  assert(/^STOPSIGNAL SIGTERM$/m.test(file));
});

Deno.test("the Containerfile's build context leaves the host's node_modules and dist out", async () => {
  // `COPY . .` comes after `npm ci`: the host's node_modules would be copied over the
  // image's (another platform's Deno build, ~100 MiB each), and its dist/ bundles with them.
  const ignored = (await Deno.readTextFile(new URL("../../.dockerignore", import.meta.url)))
    .split("\n").map((l) => l.trim()).filter((l) => l !== "" && !l.startsWith("#"));
  for (const path of ["node_modules", "dist", ".git"]) assert(ignored.includes(path), path);
  const file = await Deno.readTextFile(new URL("../../contrib/Containerfile", import.meta.url));
  assert(file.indexOf("RUN npm ci") < file.indexOf("COPY . ."), file);
});
