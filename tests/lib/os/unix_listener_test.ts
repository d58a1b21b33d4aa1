import assert from "node:assert/strict";
import { HamError } from "../../../lib/core/errors.ts";
import { libc } from "../../../lib/os/libc.ts";
import { peerCredentials } from "../../../lib/os/peer_listener.ts";
import { UnixListener } from "../../../lib/os/unix_listener.ts";

Deno.test("UnixListener.accept() gives the descriptor of each connection, in order", async () => {
  const dir = await Deno.makeTempDir();
  const lib = libc();
  const listener = UnixListener.open(lib, `${dir}/s.sock`);
  try {
    const pending = listener.accept(); // Waits: nothing has connected yet.
    const a = await Deno.connect({ transport: "unix", path: `${dir}/s.sock` });
    const b = await Deno.connect({ transport: "unix", path: `${dir}/s.sock` });
    const fds = [await pending, await listener.accept()];
    for (const fd of fds) {
      assert.ok(fd > 2);
      assert.equal(peerCredentials(fd)?.pid, Deno.pid);
      lib.close(fd);
    }
    a.close();
    b.close();
  } finally {
    listener.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("UnixListener.close() ends a pending accept() with ECANCELED", async () => {
  const dir = await Deno.makeTempDir();
  const listener = UnixListener.open(libc(), `${dir}/s.sock`);
  try {
    const pending = listener.accept();
    listener.close();
    await assert.rejects(pending, (err) => err instanceof HamError && err.code === "ECANCELED");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("UnixListener.open() refuses a path too long for a socket with EINVAL", () => {
  assert.throws(
    () => UnixListener.open(libc(), `/tmp/${"x".repeat(120)}`),
    (err) => err instanceof HamError && err.code === "EINVAL",
  );
});
