/**
 * The client recovery library end to end: a real line-echo server process
 * (`tests/support/echo_server.ts`) supervised by a real HAM that restarts it on death;
 * the test is its client and SIGKILLs it mid-stream. Waits are on events with deadlines.
 */

import assert from "node:assert/strict";
import { HaConn, haConnect } from "../../lib/ha/ha_conn.ts";
import type { ServerAddress } from "../../lib/ha/server_address.ts";
import { type HaFile, haOpen, haReopen } from "../../lib/ha/ha_file.ts";
import {
  HA_RECOVERY_ACOUNT,
  HA_RECOVERY_ENABLE,
  HA_RECOVERY_SUSPEND,
} from "../../lib/ha/recovery_core.ts";
import { nextEventSeq, waitForRestart } from "../../lib/ha/wait_restart.ts";
import { BIN, HamProcess } from "../support/ham_process.ts";
import { line } from "../support/local_echo.ts";
import { within } from "../support/within.ts";

const SERVER = new URL("../support/echo_server.ts", import.meta.url).pathname;
const WAIT_MS = 15_000;

/** Attaches the echo server to the HAM with a rearmed death condition and restart action. */
async function superviseEcho(ham: HamProcess, ...args: string[]): Promise<void> {
  await ham.ok(
    "attach",
    "echo",
    "--",
    `${BIN}/deno`,
    "run",
    "--allow-net",
    "--allow-read",
    "--allow-write",
    SERVER,
    ...args,
  );
  await ham.ok("condition", "echo/death", "death", "--rearm");
  await ham.ok("action", "echo/death/restart", "restart", "--rearm");
}

/** SIGKILLs the echo server; with `waitDead`, returns once the HAM has seen it die. */
async function killEcho(ham: HamProcess, waitDead: boolean): Promise<void> {
  const { pid } = await ham.ok("status", "echo", "--json");
  const since = await ham.seq();
  Deno.kill(pid, "SIGKILL");
  if (waitDead) await ham.waitEvent("echo", "dead", since);
}

/** The recovery handle of a client: where to resume waiting, what to replay, what happened. */
interface Client {
  stateDir: string;
  since: number;
  pending: Uint8Array | null;
  recoveries: ("replayed" | "reissued")[];
  /** Where the restarted server listens, for a server that moves (TCP). */
  locate?: () => Promise<ServerAddress>;
}

/**
 * The recovery function of these tests: wait for the HAM to report the restart, connect
 * to the new server, replay the request that had no answer yet (requests are idempotent).
 */
async function recoverEcho(failed: HaConn<Client>, h: Client): Promise<boolean> {
  const r = await waitForRestart("echo", {
    stateDir: h.stateDir,
    since: h.since,
    timeoutMs: WAIT_MS,
  });
  h.since = (r.seq ?? h.since) + 1;
  const address = h.locate ? await h.locate() : undefined;
  await failed.reconnect({ address, waitMs: WAIT_MS });
  h.recoveries.push(h.pending ? "replayed" : "reissued");
  if (h.pending) await failed.writeAll(h.pending);
  return true;
}

/** Lines from a byte-stream reader. */
function lineReader(reader: ReadableStreamDefaultReader<Uint8Array>): () => Promise<string> {
  const decoder = new TextDecoder();
  let buffered = "";
  return async () => {
    for (;;) {
      const nl = buffered.indexOf("\n");
      if (nl !== -1) {
        const text = buffered.slice(0, nl);
        buffered = buffered.slice(nl + 1);
        return text;
      }
      const { value, done } = await reader.read();
      if (done) throw new Error(`The stream ended after ${JSON.stringify(buffered)}`);
      buffered += decoder.decode(value, { stream: true });
    }
  };
}

/**
 * Streams `count` requests over `conn`'s writable and reads each echo from its readable,
 * SIGKILLing the server at the iterations in `kills`: "before" kills it and waits until it
 * is dead before the write (the write fails), "after" kills it right after the write (the
 * read meets the death, or the next write does).
 */
async function stream(
  ham: HamProcess,
  conn: HaConn<Client>,
  h: Client,
  count: number,
  kills: Map<number, "before" | "after">,
): Promise<string[]> {
  const writer = conn.writable.getWriter();
  const reader = conn.readable.getReader();
  const next = lineReader(reader);
  const echoes: string[] = [];
  for (let i = 0; i < count; i++) {
    const request = `request ${i} ${"x".repeat(i)}`;
    if (kills.get(i) === "before") await killEcho(ham, true);
    await within(writer.write(line(request)), `the write of request ${i}`, WAIT_MS * 2);
    h.pending = line(request);
    if (kills.get(i) === "after") await killEcho(ham, false);
    echoes.push(await within(next(), `the echo of request ${i}`, WAIT_MS * 2));
    h.pending = null;
  }
  writer.releaseLock();
  reader.releaseLock();
  return echoes;
}

const KILLS = new Map<number, "before" | "after">([
  [5, "before"],
  [12, "after"],
  [20, "before"],
  [27, "after"],
]);
const expected = (n: number) =>
  Array.from({ length: n }, (_, i) => `request ${i} ${"x".repeat(i)}`);

Deno.test(
  "haConnect() keeps a Unix-socket client streaming across SIGKILLs of its supervised server",
  async () => {
    await using ham = await HamProcess.start();
    const socket = `${ham.stateDir}/echo.sock`;
    await superviseEcho(ham, socket);
    const h: Client = {
      stateDir: ham.stateDir,
      since: await nextEventSeq({ stateDir: ham.stateDir }),
      pending: null,
      recoveries: [],
    };
    using conn = await haConnect({ transport: "unix", path: socket }, recoverEcho, h, {
      eofIsDeath: true,
      waitMs: WAIT_MS,
    });
    const echoes = await stream(ham, conn, h, 32, KILLS);
    assert.deepEqual(echoes, expected(32), "every request got its echo, in order, once");
    assert.equal(h.recoveries.length, KILLS.size, `one recovery per kill: ${h.recoveries}`);
    assert.ok(h.recoveries.includes("reissued"), "a failed write was re-issued after recovery");
    assert.equal(conn.stats.acount, KILLS.size);
    assert.equal((await ham.ok("status", "echo", "--json")).restarts, KILLS.size);
  },
);

/** Where the echo server now listens: waits for a port file written by a server not `notPid`. */
async function portFile(
  path: string,
  notPid: number | null,
): Promise<{ port: number; pid: number }> {
  using watcher = Deno.watchFs(path.slice(0, path.lastIndexOf("/")));
  const changes = watcher[Symbol.asyncIterator]();
  const end = Date.now() + WAIT_MS;
  for (;;) {
    const text = await Deno.readTextFile(path).catch(() => "");
    const [port, pid] = text.trim().split(" ").map(Number);
    if (port > 0 && pid > 0 && pid !== notPid) return { port, pid };
    await within(changes.next(), `a port file at "${path}"`, Math.max(end - Date.now(), 1));
  }
}

Deno.test(
  "haConnect() keeps a TCP client streaming across SIGKILLs of its server on a new port",
  async () => {
    await using ham = await HamProcess.start();
    const dir = `${ham.stateDir}/echo`;
    await Deno.mkdir(dir);
    const file = `${dir}/port`;
    await superviseEcho(ham, "--tcp", file);
    let server = await portFile(file, null);
    const h: Client = {
      stateDir: ham.stateDir,
      since: await nextEventSeq({ stateDir: ham.stateDir }),
      pending: null,
      recoveries: [],
      locate: async () => {
        server = await portFile(file, server.pid);
        return { transport: "tcp", hostname: "127.0.0.1", port: server.port };
      },
    };
    const address = { transport: "tcp", hostname: "127.0.0.1", port: server.port } as const;
    using conn = await haConnect(address, recoverEcho, h, { eofIsDeath: true });
    const echoes = await stream(ham, conn, h, 32, KILLS);
    assert.deepEqual(echoes, expected(32));
    assert.equal(h.recoveries.length, KILLS.size, `one recovery per kill: ${h.recoveries}`);
    // A write to a dead TCP peer is accepted by the kernel and lost: the read meets the death
    // and only the replay in the recovery function gets the request answered.
    assert.ok(h.recoveries.includes("replayed"), `${h.recoveries}`);
    assert.equal((conn.remoteAddr as Deno.NetAddr).port, server.port);
    assert.equal((conn.remoteAddr as Deno.NetAddr).hostname, "127.0.0.1");
  },
);

Deno.test(
  "haOpen() continues a read at its offset after the file's server restarted",
  async () => {
    const dir = await Deno.makeTempDir({ prefix: "ha-file-" });
    try {
      const path = `${dir}/data`;
      const content = Array.from({ length: 500 }, (_, i) => `line ${i}\n`).join("");
      await Deno.writeTextFile(path, content);
      const h = { recoveries: 0, offset: 0, inodes: new Set<number | null>() };
      const recover = async (failed: HaFile<typeof h>, hh: typeof h) => {
        await haReopen(failed);
        await failed.raw.seek(hh.offset, Deno.SeekMode.Start);
        hh.recoveries++;
        return true;
      };
      using file = await haOpen(path, { read: true }, recover, h);
      const buf = new Uint8Array(1000);
      const chunks: string[] = [];
      const decoder = new TextDecoder();
      for (let n; (n = await file.read(buf)) !== null;) {
        chunks.push(decoder.decode(buf.subarray(0, n), { stream: true }));
        h.offset += n;
        h.inodes.add((await file.stat()).ino);
        if (chunks.length % 2 === 1) {
          // The "server" restarts: the file is served anew (a new inode) and old handles go stale.
          await Deno.writeTextFile(`${path}.new`, content);
          await Deno.rename(`${path}.new`, path);
          file.raw.close();
        }
      }
      assert.equal(chunks.join(""), content);
      assert.equal(h.recoveries, Math.ceil(chunks.length / 2));
      assert.ok(h.inodes.size > 1, "recovery reopened the new file");
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
);

Deno.test(
  "HaConn.control() limits (ACOUNT) and suspends recovery against a real server",
  async () => {
    await using ham = await HamProcess.start();
    const socket = `${ham.stateDir}/echo.sock`;
    await superviseEcho(ham, socket);
    const h: Client = {
      stateDir: ham.stateDir,
      since: await nextEventSeq({ stateDir: ham.stateDir }),
      pending: null,
      recoveries: [],
    };
    const address = { transport: "unix", path: socket } as const;
    const conn = await haConnect(address, recoverEcho, h, { eofIsDeath: true, waitMs: WAIT_MS });
    conn.control(HA_RECOVERY_ACOUNT, 1);
    await killEcho(ham, true);
    await conn.writeAll(line("first"));
    assert.equal(h.recoveries.length, 1);
    await killEcho(ham, true);
    await assert.rejects(conn.writeAll(line("second")), Deno.errors.BrokenPipe);
    assert.equal(h.recoveries.length, 1, "ACOUNT exhausted: the error surfaced");
    conn.close();

    h.since = (await waitForRestart("echo", { stateDir: ham.stateDir, since: h.since })).seq! + 1;
    using again = await haConnect(address, recoverEcho, h, { eofIsDeath: true, waitMs: WAIT_MS });
    again.control(HA_RECOVERY_SUSPEND);
    await killEcho(ham, true);
    await assert.rejects(again.writeAll(line("third")), Deno.errors.BrokenPipe);
    assert.equal(h.recoveries.length, 1, "SUSPEND: the first failure surfaced");
    again.control(HA_RECOVERY_ENABLE);
    await again.writeAll(line("fourth"));
    assert.equal(h.recoveries.length, 2, "ENABLE: recovery again");
  },
);

Deno.test(
  "HaConn and HaFile do not retry an error that is not a dead-server error",
  async () => {
    await using ham = await HamProcess.start();
    const socket = `${ham.stateDir}/echo.sock`;
    await superviseEcho(ham, socket);
    let calls = 0;
    const count = () => (calls++, false);
    using conn = await haConnect({ transport: "unix", path: socket }, count, null, {
      waitMs: WAIT_MS,
    });
    await assert.rejects(conn.write("text" as unknown as Uint8Array), TypeError);
    await conn.writeAll(line("still fine"));
    const path = `${ham.stateDir}/ro`;
    await Deno.writeTextFile(path, "x");
    using file = await haOpen(path, { read: true }, count, null);
    await assert.rejects(file.write(line("no")), (e) => (e as { code?: string }).code === "EBADF");
    assert.equal(calls, 0);
    assert.ok(conn instanceof HaConn);
  },
);
