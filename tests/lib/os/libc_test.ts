import { deepEqual as assertEquals, equal } from "node:assert/strict";
import { archConstants, cString, libc, OPEN, SYS } from "../../../lib/os/libc.ts";

Deno.test("archConstants() gives the x86-64 and arm64 numbers of getdents64 and O_DIRECTORY", () => {
  assertEquals(archConstants("x86_64").sys, {
    pidfd_send_signal: 424,
    pidfd_open: 434,
    getdents64: 217,
  });
  assertEquals(archConstants("aarch64").sys, {
    pidfd_send_signal: 424,
    pidfd_open: 434,
    getdents64: 61,
  });
  equal(archConstants("x86_64").open.O_DIRECTORY, 0o200000);
  equal(archConstants("aarch64").open.O_DIRECTORY, 0o40000);
});

Deno.test("SYS and OPEN are this machine's architecture's", () => {
  assertEquals(SYS, archConstants(Deno.build.arch).sys);
  assertEquals(OPEN, archConstants(Deno.build.arch).open);
});

Deno.test("libc().mkfifo() makes a FIFO", async () => {
  const dir = await Deno.makeTempDir();
  try {
    equal(libc().mkfifo(cString(`${dir}/f`), 0o600), 0);
    equal(Deno.statSync(`${dir}/f`).isFifo, true);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
