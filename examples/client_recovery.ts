/**
 * Client recovery, after QNX's client recovery library (libha). Two clients keep working
 * across their server's death:
 *
 * 1. A line-echo server (examples/workers/echo_server.ts) listens on a Unix socket in the
 *    state directory, attached to the HAM with a re-armed death condition and a re-armed
 *    restart action. A client connects with `haConnect(address, recover, handle)`: its
 *    recovery function waits for the HAM to report the restart (`waitForRestart`), then
 *    `reconnect`s and replays the request that had no answer yet. The client sends
 *    numbered requests in a loop while the server is SIGKILLed twice mid-stream: the
 *    client never sees an error, and every request gets its echo, in order, once.
 * 2. A file read with `haOpen`, whose recovery function reopens the file (`haReopen`) and
 *    seeks to the saved offset, the handle being `{ recoveries, offset }` as in QNX's
 *    documented example. The file's "server" restarts twice (the file is served anew and
 *    the old handle goes stale); the read continues at its offset.
 *
 * Prints a timeline in ms; exits 0 when that happened, 1 when it did not.
 *
 * Run: bin/deno run --allow-read --allow-write --allow-net --allow-run --allow-env --allow-ffi --allow-sys examples/client_recovery.ts
 *
 * @module
 */

import {
  HA_RECOVERY_ICOUNT,
  type HaConn,
  haConnect,
  haConnectionCtrl,
  type HaFile,
  haOpen,
  haReopen,
  nextEventSeq,
  reconnect,
  waitForRestart,
} from "../ha.ts";
import { BIN, ExampleHam, REPO } from "./support/example_ham.ts";
import { runScenario, type Timeline, within } from "./support/scenario.ts";

const SERVER = "echo";
const REQUESTS = 20;
/** Kill the server at these requests: before the write (it fails) or after it (the read does). */
const KILLS = new Map<number, "before" | "after">([[6, "before"], [13, "after"]]);
const WAIT_MS = 5_000;

/** The recovery handle of the echo client: where to resume waiting, what to replay. */
interface EchoHandle {
  stateDir: string;
  timeline: Timeline;
  /** The `since` of the next `waitForRestart`: no restart from here on is missed. */
  since: number;
  /** The request written but not answered yet, to replay on the new connection. */
  pending: Uint8Array | null;
  recoveries: number;
}

/**
 * The echo client's recovery function (QNX's `recover(coid, handle)`): wait for the HAM's
 * restart report, connect to the new server, replay the unanswered request.
 */
async function recoverEcho(failed: HaConn<EchoHandle>, h: EchoHandle): Promise<boolean> {
  const started = Date.now();
  const r = await waitForRestart(SERVER, {
    stateDir: h.stateDir,
    since: h.since,
    timeoutMs: WAIT_MS,
  });
  h.since = (r.seq ?? h.since) + 1;
  await reconnect(failed, { waitMs: WAIT_MS });
  if (h.pending) await failed.writeAll(h.pending);
  h.recoveries++;
  const what = h.pending ? `replayed "${decode(h.pending).trim()}"` : "the failed write re-issued";
  h.timeline.mark(
    `client: recovery #${h.recoveries}: HAM reported the restart (event ${r.seq}), ` +
      `reconnected in ${Date.now() - started} ms, ${what}`,
  );
  return true;
}

const encoder = new TextEncoder();
const decode = (b: Uint8Array) => new TextDecoder().decode(b);

/** A reader of lines from `conn`. */
function lineReader(conn: HaConn<EchoHandle>): () => Promise<string> {
  const buf = new Uint8Array(4096);
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
      const n = await conn.read(buf);
      if (n === null) throw new Error(`The connection ended after ${JSON.stringify(buffered)}`);
      buffered += decoder.decode(buf.subarray(0, n), { stream: true });
    }
  };
}

/** SIGKILLs the server; with `waitDead`, returns once the HAM has seen it die. */
async function killServer(h: ExampleHam, tl: Timeline, waitDead: boolean): Promise<void> {
  const { pid } = await h.entity(SERVER);
  h.track(pid);
  const since = await h.nextSeq();
  const at = Date.now();
  Deno.kill(pid!, "SIGKILL");
  tl.mark(`kill -KILL ${pid} (${SERVER})`, at);
  if (waitDead) await h.ham.wait(SERVER, "dead", { since, timeoutMs: WAIT_MS });
}

/** Part 1: the echo client streams requests across two SIGKILLs of its server. */
async function echoClient(h: ExampleHam, tl: Timeline): Promise<void> {
  const socket = `${h.stateDir}/echo.sock`;
  const argv = [
    `${BIN}/deno`,
    "run",
    "--allow-net",
    "--allow-read",
    "--allow-write",
    `${REPO}examples/workers/echo_server.ts`,
    socket,
  ];
  const echo = await h.ham.attach(SERVER, { argv });
  h.track(echo.pid);
  const death = await echo.condition("death", "death", { flags: ["rearm"] });
  await death.restart("restart", { flags: ["rearm"] });
  tl.mark(`attached "${SERVER}" (pid ${echo.pid}) on DIR/echo.sock, with death -> restart`);

  const handle: EchoHandle = {
    stateDir: h.stateDir,
    timeline: tl,
    since: await nextEventSeq({ stateDir: h.stateDir }),
    pending: null,
    recoveries: 0,
  };
  using conn = await haConnect({ transport: "unix", path: socket }, recoverEcho, handle, {
    eofIsDeath: true,
    waitMs: WAIT_MS,
  });
  haConnectionCtrl(conn, HA_RECOVERY_ICOUNT, 3);
  tl.mark(`client: haConnect(DIR/echo.sock, recoverEcho, handle); ICOUNT 3 per failure`);

  const next = lineReader(conn);
  const echoes: string[] = [];
  for (let i = 1; i <= REQUESTS; i++) {
    const request = `request ${i}`;
    if (KILLS.get(i) === "before") await killServer(h, tl, true);
    const bytes = encoder.encode(`${request}\n`);
    // A failed write is re-issued by the library after recovery: not pending until written.
    await within(conn.writeAll(bytes), WAIT_MS * 2, `the write of ${request}`);
    handle.pending = bytes;
    if (KILLS.get(i) === "after") await killServer(h, tl, false);
    echoes.push(await within(next(), WAIT_MS * 2, `the echo of ${request}`));
    handle.pending = null;
    if (KILLS.has(i) || KILLS.has(i - 1)) tl.mark(`client: ${request} -> echo "${echoes.at(-1)}"`);
  }
  tl.mark(`client: ${REQUESTS} requests sent, ${echoes.length} echoes received`);
  const expected = Array.from({ length: REQUESTS }, (_, i) => `request ${i + 1}`);
  tl.check(
    echoes.join("|") === expected.join("|"),
    `every request got its echo, in order, once (${REQUESTS} of ${REQUESTS})`,
  );
  tl.check(
    handle.recoveries === KILLS.size && conn.stats.acount === KILLS.size,
    `the client recovered ${KILLS.size} times and never saw an error (ACOUNT ${conn.stats.acount})`,
  );
  const view = await h.entity(SERVER);
  h.track(view.pid);
  tl.check(
    view.restarts === KILLS.size,
    `the HAM restarted "${SERVER}" ${KILLS.size} times (Num Restarts: ${view.restarts})`,
  );
}

/** The file read's recovery handle, as in QNX's example: `{ recoveries, offset }`. */
interface FileHandle {
  recoveries: number;
  offset: number;
}

/** Part 2: a file read that continues at its offset after the file's server restarted. */
async function fileRead(h: ExampleHam, tl: Timeline): Promise<void> {
  const path = `${h.stateDir}/data`;
  const content = Array.from({ length: 100 }, (_, i) => `line ${i}\n`).join("");
  await Deno.writeTextFile(path, content);
  const recover = async (failed: HaFile<FileHandle>, fh: FileHandle): Promise<boolean> => {
    await haReopen(failed);
    await failed.raw.seek(fh.offset, Deno.SeekMode.Start);
    fh.recoveries++;
    tl.mark(
      `file: recovery #${fh.recoveries}: haReopen, seek to offset ${fh.offset} ` +
        `(inode ${(await failed.stat()).ino})`,
    );
    return true;
  };
  const fh: FileHandle = { recoveries: 0, offset: 0 };
  using file = await haOpen(path, { read: true }, recover, fh);
  tl.mark(`file: haOpen(DIR/data, read, recover, { recoveries, offset }): ${content.length} bytes`);
  const buf = new Uint8Array(128);
  const decoder = new TextDecoder();
  let text = "";
  const restartAt = new Set([2, 5]);
  for (let chunk = 1, n; (n = await file.read(buf)) !== null; chunk++) {
    text += decoder.decode(buf.subarray(0, n), { stream: true });
    fh.offset += n;
    if (restartAt.has(chunk)) {
      // The file's server restarts: the file is served anew (a new inode), old handles go stale.
      await Deno.writeTextFile(`${path}.new`, content);
      await Deno.rename(`${path}.new`, path);
      file.raw.close();
      tl.mark(`file: the server restarts at offset ${fh.offset}; the open handle goes stale`);
    }
  }
  tl.check(
    text === content,
    `the read continued at its offset: all ${content.length} bytes, in order`,
  );
  tl.check(fh.recoveries === restartAt.size, `the file recovered ${restartAt.size} times`);
}

if (import.meta.main) {
  await runScenario("client recovery: clients keep working across server restarts", async (tl) => {
    await using h = await ExampleHam.start(tl);
    await echoClient(h, tl);
    await fileRead(h, tl);
    await h.stop();
  });
}
