import assert from "node:assert/strict";
import { HamError } from "../../../lib/core/errors.ts";
import { libc } from "../../../lib/os/libc.ts";
import { openPidfd } from "../../../lib/os/pidfd.ts";
import { readDirNames } from "../../../lib/os/proc_fs.ts";

Deno.test("openPidfd() throws EINVAL naming the process when given one of its other threads", () => {
  const threads = (readDirNames(`/proc/${Deno.pid}/task`) ?? []).map(Number);
  const tid = threads.find((t) => t !== Deno.pid);
  assert.ok(tid !== undefined, `Deno runs more than one thread: ${threads}`);
  assert.throws(
    () => openPidfd(libc(), "watch", tid),
    (e: unknown) =>
      e instanceof HamError && e.code === "EINVAL" &&
      e.message ===
        `Cannot watch pid ${tid}: pid ${tid} is a thread of process ${Deno.pid}, not a process`,
  );
  const fd = openPidfd(libc(), "watch", Deno.pid);
  assert.ok(fd >= 0);
  libc().close(fd);
});

Deno.test("openPidfd() throws ESRCH for a pid no process or thread has", () => {
  assert.throws(
    () => openPidfd(libc(), "watch", 2 ** 22 + 1),
    (e: unknown) => e instanceof HamError && e.code === "ESRCH",
  );
});
