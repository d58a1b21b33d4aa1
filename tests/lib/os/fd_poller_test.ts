import assert from "node:assert/strict";
import { FdPoller } from "../../../lib/os/fd_poller.ts";
import { libc } from "../../../lib/os/libc.ts";

const EFD_NONBLOCK = 0o4000;

Deno.test("FdPoller.wait() resolves when a descriptor becomes readable, not before", async () => {
  const lib = libc();
  const poller = new FdPoller(lib);
  const fd = lib.eventfd(0, EFD_NONBLOCK);
  try {
    let ready = false;
    const waited = poller.wait(fd, "read").then(() => ready = true);
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(ready, false);
    lib.write(fd, new Uint8Array([1, 0, 0, 0, 0, 0, 0, 0]));
    await waited;
    // Armed again by the next wait: readable now, so it resolves at once.
    await poller.wait(fd, "read");
    assert.ok(lib.read(fd, new Uint8Array(8)) === 8);
  } finally {
    poller.forget(fd);
    lib.close(fd);
  }
});

Deno.test("FdPoller.forget() ends a pending wait, so no poll stays in flight", async () => {
  const lib = libc();
  const poller = new FdPoller(lib);
  const fd = lib.eventfd(0, EFD_NONBLOCK);
  const waited = poller.wait(fd, "read");
  poller.forget(fd);
  await waited; // The test's op sanitizer fails if the epoll_wait were still pending.
  lib.close(fd);
  await new Promise((r) => setTimeout(r, 20));
});
