import assert from "node:assert/strict";
import type { HamError } from "../../../lib/core/errors.ts";
import { addressOf, connectTo } from "../../../lib/ha/server_address.ts";
import { LocalEcho } from "../../support/local_echo.ts";
import { fullBacklog } from "../../support/full_backlog.ts";
import { steppingWallClock } from "../../support/stepping_wall_clock.ts";
import { within } from "../../support/within.ts";

async function tempDir(): Promise<AsyncDisposable & { path: string }> {
  const path = await Deno.makeTempDir({ prefix: "ha-addr-" });
  return { path, [Symbol.asyncDispose]: () => Deno.remove(path, { recursive: true }) };
}

Deno.test("addressOf() answers the remote address of a Unix or TCP connection", async () => {
  await using dir = await tempDir();
  await using unix = LocalEcho.unix(`${dir.path}/s.sock`);
  await using tcp = LocalEcho.tcp();
  using u = await Deno.connect(unix.address as Deno.UnixConnectOptions);
  using t = await Deno.connect(tcp.address as Deno.ConnectOptions);
  assert.deepEqual(addressOf(u), unix.address);
  assert.deepEqual(addressOf(t), tcp.address);
});

Deno.test("addressOf() throws EINVAL when the remote address cannot be connected to again", () => {
  const conn = { remoteAddr: { transport: "unix", path: "" } } as unknown as Deno.Conn;
  assert.throws(() => addressOf(conn), (e) => (e as HamError).code === "EINVAL");
});

Deno.test("connectTo() retries a refused connect until the server listens", async () => {
  await using dir = await tempDir();
  const path = `${dir.path}/stale.sock`;
  await Deno.writeFile(path, new Uint8Array()); // not a socket: connecting is refused
  const connecting = connectTo({ transport: "unix", path }, 5000);
  await new Promise((r) => setTimeout(r, 30)); // let the first attempts be refused
  await Deno.remove(path);
  await using echo = LocalEcho.unix(path);
  using conn = await within(connecting, "the connect once the server listens");
  assert.equal(conn.remoteAddr.transport, "unix");
  assert.equal(echo.up, true);
});

Deno.test("connectTo() gives up with the connect error after waitMs", async () => {
  await using dir = await tempDir();
  const started = performance.now();
  await assert.rejects(
    connectTo({ transport: "unix", path: `${dir.path}/none.sock` }, 50),
    Deno.errors.NotFound,
  );
  assert.ok(performance.now() - started >= 50);
});

Deno.test("connectTo() waits waitMs of real time while the wall clock is set forward or back", async () => {
  await using dir = await tempDir();
  for (const step of [3_600_000, -3_600_000]) {
    const started = performance.now();
    {
      using _ = steppingWallClock(step);
      await assert.rejects(
        within(connectTo({ transport: "unix", path: `${dir.path}/none.sock` }, 200), "the connect"),
        Deno.errors.NotFound,
      );
    }
    const ms = performance.now() - started;
    assert.ok(
      ms >= 200 && ms < 2000,
      `set ${step > 0 ? "forward" : "back"}: gave up after ${ms} ms`,
    );
  }
});

Deno.test("connectTo() does not retry an error other than refused or missing", async () => {
  await using dir = await tempDir();
  await Deno.writeTextFile(`${dir.path}/file`, "");
  const started = Date.now();
  await assert.rejects(
    connectTo({ transport: "unix", path: `${dir.path}/file/s.sock` }, 5000),
    Deno.errors.NotADirectory,
  );
  assert.ok(Date.now() - started < 1000, "it failed at once");
});

Deno.test("connectTo() gives up after waitMs on a host that does not answer at all", async () => {
  // The address answers nothing (as a host that is down): the connect would hang for the
  // kernel's SYN retries, minutes, past any waitMs.
  await using silent = await fullBacklog();
  const started = performance.now();
  await assert.rejects(
    within(connectTo({ hostname: "127.0.0.1", port: silent.port }, 300), "the connect", 5000),
    Deno.errors.TimedOut,
  );
  const ms = performance.now() - started;
  assert.ok(ms >= 300 && ms < 2000, `gave up after ${ms.toFixed(0)} ms`);
});
