import assert from "node:assert/strict";
import { PeerListener } from "../../../lib/os/peer_listener.ts";

Deno.test("PeerListener.accept() gives each connection its peer's pid, uid and gid", async () => {
  const dir = await Deno.makeTempDir();
  const listener = await PeerListener.listen(`${dir}/s.sock`);
  try {
    const client = await Deno.connect({ transport: "unix", path: `${dir}/s.sock` });
    const conn = await listener.accept();
    assert.deepEqual(
      { pid: conn.credentials?.pid, uid: conn.credentials?.uid, gid: conn.credentials?.gid },
      { pid: Deno.pid, uid: Deno.uid(), gid: Deno.gid() },
    );
    assert.ok(conn.credentials!.groups.includes(Deno.gid()!));
    // A byte stream both ways, and the end of it.
    await client.write(new TextEncoder().encode("hello\n"));
    const buf = new Uint8Array(16);
    assert.equal(new TextDecoder().decode(buf.subarray(0, (await conn.read(buf))!)), "hello\n");
    await conn.write(new TextEncoder().encode("back"));
    assert.equal(new TextDecoder().decode(buf.subarray(0, (await client.read(buf))!)), "back");
    client.close();
    assert.equal(await conn.read(buf), null);
    conn.close();
  } finally {
    listener.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("PeerListener keeps its listening socket out of the processes it starts", async () => {
  const dir = await Deno.makeTempDir();
  const listener = await PeerListener.listen(`${dir}/s.sock`);
  try {
    // A child lists its descriptors: none may be a listening socket of ours (only 0-2 + the
    // descriptor of its own listing).
    const out = await new Deno.Command("/bin/sh", {
      args: ["-c", "ls -l /proc/$$/fd | grep -c socket || true"],
      stdout: "piped",
    }).output();
    assert.equal(new TextDecoder().decode(out.stdout).trim(), "0");
  } finally {
    listener.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("FdConn.write() hands over a 4 MiB answer whole and in order when it fills the send buffer", async () => {
  const dir = await Deno.makeTempDir();
  const listener = await PeerListener.listen(`${dir}/s.sock`);
  try {
    const client = await Deno.connect({ transport: "unix", path: `${dir}/s.sock` });
    const conn = await listener.accept();
    // More than the default send buffer (~208 KiB): the write waits, raises it, and goes on.
    const bytes = new Uint8Array(4 * 1024 * 1024);
    for (let i = 0; i < bytes.length; i++) bytes[i] = (i * 7 + (i >> 12)) & 0xff;
    const written = conn.write(bytes);
    const got = new Uint8Array(bytes.length);
    let off = 0;
    const buf = new Uint8Array(64 * 1024);
    while (off < got.length) {
      const n = await client.read(buf);
      assert.ok(n !== null, `the stream ended after ${off} bytes`);
      got.set(buf.subarray(0, n), off);
      off += n;
    }
    assert.equal(await written, bytes.length);
    assert.deepEqual(got, bytes);
    client.close();
    conn.close();
  } finally {
    listener.close();
    await Deno.remove(dir, { recursive: true });
  }
});
