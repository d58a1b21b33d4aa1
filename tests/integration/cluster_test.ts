/**
 * Cluster entities on a real etcd with three HAMs (each with its Guardian, its own state
 * directory and node name) on this machine: placement, failover when a node dies whole,
 * fencing before failover when a node is cut from etcd, no fencing when etcd restarts
 * within the TTL. A sampler checks all along that at most one copy runs.
 */

import { deepEqual as assertEquals, ok as assert } from "node:assert/strict";
import type { HamEvent } from "../../lib/core/protocol.ts";
import type { EntityView, HamView } from "../../lib/core/status_view.ts";
import { etcdBinary, EtcdProcess } from "../support/etcd_process.ts";
import { alive, BIN, deadline, HamProcess, processesOf, until } from "../support/ham_process.ts";
import { connect } from "../../lib/client/ham.ts";
import { TcpRelay } from "../support/tcp_relay.ts";
import { freePort, makeCerts } from "../support/tls_certs.ts";

const skip = etcdBinary() === null;
if (skip) console.log("cluster tests skipped: etcd is not installed (apt-get install etcd-server)");

/** Counts the processes whose command line holds `token`, every 20 ms, keeping the maximum. */
class CopySampler implements AsyncDisposable {
  max = 0;
  last = 0;
  #stop = false;
  #loop: Promise<void>;

  constructor(token: string) {
    // The pattern must not match grep's own command line: "[.]" matches the "." of the token.
    const pattern = token.replace(".", "[.]");
    this.#loop = (async () => {
      while (!this.#stop) {
        const out = await new Deno.Command("/bin/sh", {
          args: ["-c", 'grep -l -- "$1" /proc/[0-9]*/cmdline 2>/dev/null; true', "sh", pattern],
          stdout: "piped",
          stderr: "null",
        }).output();
        this.last = new TextDecoder().decode(out.stdout).split("\n").filter((l) => l).length;
        this.max = Math.max(this.max, this.last);
        await new Promise((r) => setTimeout(r, 20));
      }
    })();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    this.#stop = true;
    await this.#loop;
  }
}

/** Subscribes to a HAM's events from now; `next(pred)` resolves with the first match. */
async function events(ham: HamProcess) {
  const lib = await connect({ stateDir: ham.stateDir, client: "test" });
  const seen: HamEvent[] = [];
  const waiters: Array<() => void> = [];
  const stream = await lib.subscribe({});
  const pump = (async () => {
    for await (const ev of stream) {
      seen.push({ ...ev, at: performance.now() });
      for (const w of waiters.splice(0)) w();
    }
  })();
  return {
    seen,
    async next(pred: (ev: HamEvent) => boolean, what: string, ms = 10_000): Promise<HamEvent> {
      return await deadline(
        (async () => {
          for (;;) {
            const ev = seen.find(pred);
            if (ev) return ev;
            await new Promise<void>((r) => waiters.push(r));
          }
        })(),
        ms,
        `${what}:\n${ham.log().split("\n").slice(-20).join("\n")}`,
      );
    },
    async [Symbol.asyncDispose]() {
      lib.close();
      await pump.catch(() => {});
    },
  };
}

/** HAMs started together and stopped together. */
async function startNodes(
  ...nodes: [string, string, ...string[]][]
): Promise<HamProcess[] & AsyncDisposable> {
  const started = await Promise.allSettled(
    nodes.map(([name, endpoint, ...more]) =>
      HamProcess.start({ args: ["--cluster", endpoint, "--node-name", name, ...more] })
    ),
  );
  const hams = started.flatMap((r) => r.status === "fulfilled" ? [r.value] : []);
  const all = Object.assign(hams, {
    async [Symbol.asyncDispose]() {
      await Promise.all(hams.map((h) => h[Symbol.asyncDispose]()));
    },
  });
  const failed = started.find((r) => r.status === "rejected");
  if (failed) {
    await all[Symbol.asyncDispose]();
    throw (failed as PromiseRejectedResult).reason;
  }
  return all;
}

function token(): string {
  return `100000.${crypto.getRandomValues(new Uint32Array(1))[0]}`;
}

/**
 * Declares `web` through `declarer` (with hamctl, as a user would) and adds its death
 * condition and restart action through `editor` (with the library: quicker than hamctl).
 */
async function declare(
  declarer: HamProcess,
  editor: HamProcess,
  tok: string,
  placement: string,
): Promise<void> {
  await declarer.ok(
    "attach",
    "web",
    "--cluster",
    "--placement",
    placement,
    "--",
    "/bin/sleep",
    tok,
  );
  await using c = await editor.client();
  await c.request("condition", { path: "web/death", type: "death", flags: ["rearm"] });
  await c.request("action", { path: "web/death/restart", flags: ["rearm"], kind: "restart" });
}

/** The status of `path` (the whole HAM when null) through the library. */
async function status<T>(ham: HamProcess, path: string | null): Promise<T> {
  await using c = await ham.client();
  return (await c.request("status", { path })) as unknown as T;
}

/** Waits until the holder applied `declare`'s edits (a death condition with its restart). */
async function editsApplied(holder: HamProcess): Promise<void> {
  await until(async () => {
    const v = await status<EntityView>(holder, "web");
    return v.conditions[0]?.actions.length === 1 ? v : null;
  }, `the edits on ${holder.stateDir}`);
}

const placedOn = (name: string) => (ev: HamEvent) =>
  ev.type === "placed" && ev.entity === "web" && ev.detail?.node === name;

/** The fields of an attach request that declares `web` for the cluster, run on `placement`. */
function clusterAttach(argv: string[], placement: string[]) {
  return {
    entity: "web",
    argv,
    pid: null,
    cwd: null,
    env: null,
    flags: 0,
    heartbeat: null,
    killMode: "control-group" as const,
    cluster: { placement },
  };
}

/**
 * Two nodes, n1 and n2 (`n1Etcd`: n1's etcd address, which a test may route through a
 * relay), and `web` declared through n2 to run on n1 first, placed there: its copies
 * sampled, both nodes' events followed. Disposing of it ends all of it.
 */
async function webPlacedOnN1(n1Etcd: string, n2Etcd: string, extra: string[] = []) {
  const stack = new AsyncDisposableStack();
  try {
    const nodes = stack.use(await startNodes(["n1", n1Etcd, ...extra], ["n2", n2Etcd, ...extra]));
    const [n1, n2] = nodes;
    const tok = token();
    const sampler = stack.use(new CopySampler(tok));
    const e1 = stack.use(await events(n1));
    const e2 = stack.use(await events(n2));
    await declare(n2, n2, tok, "n1,n2");
    await e1.next(placedOn("n1"), "web placed on n1");
    return { n1, n2, tok, sampler, e1, e2, [Symbol.asyncDispose]: () => stack.disposeAsync() };
  } catch (err) {
    await stack.disposeAsync();
    throw err;
  }
}

Deno.test({
  name: "a cluster entity runs on another node within TTL + 1 s when its node dies whole",
  ignore: skip,
  fn: async () => {
    await using etcd = await EtcdProcess.start();
    // TTL 3 s: on this busy machine (2 cores, several suites at once) a HAM's event loop can
    // stall past 1.6 s, which at 2 s fences rightly but moves the entity mid-test. The
    // default TTL's failover time is the bench's figure.
    const ttl = ["--cluster-ttl", "3s"];
    await using nodes = await startNodes(
      ["n1", etcd.url, ...ttl],
      ["n2", etcd.url, ...ttl],
      ["n3", etcd.url, ...ttl],
    );
    const [n1, n2, n3] = nodes;
    const tok = token();
    await using sampler = new CopySampler(tok);
    await using e1 = await events(n1);
    await using e2 = await events(n2);
    // Declared through n3, edited through n2: placed on n1, the most preferred.
    await declare(n3, n2, tok, "n1,n2,n3");
    await e1.next(placedOn("n1"), "web placed on n1");
    const local = await n1.status();
    const web = local.entities.find((e) => e.name === "web")!;
    assert(web.pid !== null);
    // The edits reached the holder: a death is handled there by its restart action.
    await editsApplied(n1);
    Deno.kill(web.pid!, "SIGKILL");
    await e1.next((ev) => ev.type === "restart" && ev.entity === "web", "local restart on n1");
    // n3 learns the holder at its next read of the cluster's keys (once per tick).
    const elsewhere = await until(async () => {
      const v = await status<HamView>(n3, null);
      return v.cluster?.entities[0]?.node === "n1" ? v : null;
    }, "n3 to see web on n1");
    assertEquals(elsewhere.cluster?.entities, [{
      name: "web",
      node: "n1",
      placement: ["n1", "n2", "n3"],
    }]);
    assertEquals((await status<EntityView>(n3, "web")).node, "n1");
    const text = await n3.ok("status");
    assert(/Cluster Entity *: web on n1/.test(text), text);
    const list = await n3.ok("list");
    assert(/^web +- +remote .* n1$/m.test(list), list);

    const victims = await processesOf(n1.stateDir);
    const killedAt = performance.now();
    for (const pid of victims) Deno.kill(pid, "SIGKILL");
    const placed = await e2.next(placedOn("n2"), "web placed on n2", 10_000);
    const failover = await e2.next((ev) => ev.type === "failover", "failover event");
    const ms = placed.at - killedAt;
    assert(ms <= 3000 + 1000, `failover took ${ms.toFixed(0)} ms`);
    assertEquals(failover.detail, { from: "n1", to: "n2" });
    await until(() => Promise.resolve(sampler.last === 1 ? true : null), "one copy");
    assertEquals(sampler.max, 1, "two copies ran at once");
  },
});

Deno.test({
  name: "hamctl stop on the holder ends its copy and another node starts one at once",
  ignore: skip,
  fn: async () => {
    await using etcd = await EtcdProcess.start();
    // TTL 4 s: a lease left to expire would move web no sooner than 4 s after the stop.
    await using web1 = await webPlacedOnN1(etcd.url, etcd.url, ["--cluster-ttl", "4s"]);
    const { n1, sampler, e2 } = web1;
    const web = (await n1.status()).entities.find((e) => e.name === "web")!;
    assert(web.pid !== null);
    const stoppedAt = performance.now();
    await n1.ok("stop");
    assert(/Cluster entity "web" fenced on "n1": the node left the cluster/.test(n1.log()));
    await until(() => Promise.resolve(alive(web.pid!) ? null : true), "web's end on n1");
    const placed = await e2.next(placedOn("n2"), "web placed on n2");
    const ms = placed.at - stoppedAt;
    assert(ms < 3000, `web moved ${ms.toFixed(0)} ms after the stop: left to the lease's expiry`);
    await until(() => Promise.resolve(sampler.last === 1 ? true : null), "one copy");
    assertEquals(sampler.max, 1, "two copies ran at once");
    // n1 stopped whole, and left nothing of web behind in its state.
    assertEquals(await processesOf(n1.stateDir), []);
  },
});

Deno.test({
  name: "hamctl stop on the holder ends its copy whole, what it forked too",
  ignore: skip,
  fn: async () => {
    await using etcd = await EtcdProcess.start();
    await using nodes = await startNodes(["n1", etcd.url], ["n2", etcd.url]);
    const [n1, n2] = nodes;
    await using e1 = await events(n1);
    await using e2 = await events(n2);
    const tok = token();
    await n2.ok(
      "attach",
      "web",
      "--cluster",
      "--placement",
      "n1,n2",
      "--",
      "/bin/sh",
      "-c",
      '/bin/sleep "$0" & wait',
      tok,
    );
    await e1.next(placedOn("n1"), "web placed on n1");
    // The shell and the sleep it forked, both of n1.
    await until(async () => (await processesOf(n1.stateDir)).length >= 2 || null, "web's fork");
    await n1.ok("stop");
    await e2.next(placedOn("n2"), "web placed on n2");
    // Nothing of n1's copy runs beside n2's: not its child either.
    await until(
      async () => (await processesOf(n1.stateDir)).length === 0 || null,
      "n1's copy gone",
    );
  },
});

Deno.test({
  name: "a node cut from etcd fences its copy before another node starts one",
  ignore: skip,
  fn: async () => {
    await using etcd = await EtcdProcess.start();
    await using relay = new TcpRelay(etcd.clientPort);
    await using web1 = await webPlacedOnN1(`http://127.0.0.1:${relay.port}`, etcd.url);
    const { n1, sampler, e1, e2 } = web1;
    const pids = await n1.pids();
    await until(async () => {
      const v = await status<HamView>(n1, null);
      return v.cluster?.entities[0]?.node === "n1" ? v : null;
    }, "n1 to see web on n1");
    await relay.cut();
    const fenced = await e1.next((ev) => ev.type === "fenced", "web fenced on n1");
    const placed = await e2.next(placedOn("n2"), "web placed on n2");
    assert(fenced.at < placed.at, "n2 started web before n1 fenced it");
    assertEquals(fenced.detail?.node, "n1");
    assertEquals(await n1.pids(), pids, "the partitioned HAM and its Guardian keep running");
    // n1 knows web is no longer its own, and that its view is what it last saw.
    const seen = (await status<HamView>(n1, null)).cluster!;
    assertEquals(seen.entities.map((e) => [e.name, e.node]), [["web", null]]);
    assert(seen.unreachableSince !== null);
    assert(/^web +- +remote .* -$/m.test(await n1.ok("list")), await n1.ok("list"));
    await until(() => Promise.resolve(sampler.last === 1 ? true : null), "one copy");
    assertEquals(sampler.max, 1, "two copies ran at once");
  },
});

Deno.test({
  name: "an etcd restart within the TTL fences nothing",
  ignore: skip,
  fn: async () => {
    await using etcd = await EtcdProcess.start();
    // TTL 4 s: fencing at 3.2 s without a renewal, which an etcd restart on this busy
    // machine stays under (0.7 to 1.9 s measured); with 2 s it would sometimes fence, rightly.
    await using web1 = await webPlacedOnN1(etcd.url, etcd.url, ["--cluster-ttl", "4s"]);
    const { n1, sampler, e1, e2 } = web1;
    const before = (await n1.status()).entities.find((e) => e.name === "web")!.pid;
    const down = performance.now();
    await etcd.restart();
    const gap = performance.now() - down;
    // A TTL after etcd is back, a lease that was not renewed has ended.
    await until(
      () => ownerLeaseAlive(etcd, down + gap + 4000 + 500),
      "renewals after etcd's restart",
      20_000,
    );
    const fenced = [...e1.seen, ...e2.seen].filter((ev) => ev.type === "fenced");
    // Renewals resume within a tick (0.4 s) of etcd's return: below this, nothing may fence.
    if (gap < 0.8 * 4000 - 800) {
      assertEquals(fenced, [], `fenced after an etcd restart of ${gap.toFixed(0)} ms`);
      const after = (await n1.status()).entities.find((e) => e.name === "web")!.pid;
      assertEquals(after, before);
    } else {
      console.log(`etcd took ${gap.toFixed(0)} ms to restart: longer than the fencing point`);
    }
    assertEquals(sampler.max, 1, "two copies ran at once");
  },
});

/** True once, after `after` (performance.now()), the owner key of web is held under a live lease. */
async function ownerLeaseAlive(etcd: EtcdProcess, after: number): Promise<true | null> {
  if (performance.now() < after) return null;
  const post = async (path: string, body: unknown) =>
    await (await fetch(`${etcd.url}/v3/${path}`, { method: "POST", body: JSON.stringify(body) }))
      .json();
  const range = await post("kv/range", { key: btoa("/ham/owner/web") });
  const lease = range.kvs?.[0]?.lease;
  if (!lease) throw new Error("the owner key of web is gone");
  const ttl = await post("lease/timetolive", { ID: lease });
  return Number(ttl.TTL ?? -1) > 0 ? true : null;
}

Deno.test({
  name: "ham refuses to start without --cluster when its state holds a cluster entity",
  ignore: skip,
  fn: async () => {
    await using etcd = await EtcdProcess.start();
    await using nodes = await startNodes(["n1", etcd.url, "--cluster-ttl", "2s"]);
    const [n1] = nodes;
    const tok = token();
    await using sampler = new CopySampler(tok);
    await using e1 = await events(n1);
    await declare(n1, n1, tok, "n1");
    await e1.next(placedOn("n1"), "web placed on n1");
    await e1[Symbol.asyncDispose]();
    // The edits reached the holder: web's death while no HAM watches is handled at the
    // restart by its restart action. (Killed before, web would die without one and stay
    // down under the kept lease: the decision "Cluster entity after a death without restart".)
    await editsApplied(n1);
    // The whole node dies (HAM, Guardian, worker); its journal still says web runs there.
    for (const pid of await processesOf(n1.stateDir)) Deno.kill(pid, "SIGKILL");
    await until(() => Promise.resolve(sampler.last === 0 ? true : null), "no copy");
    // Started again without --cluster: resuming web would restart it with no lease.
    const child = new Deno.Command(`${BIN}/ham`, {
      args: ["--foreground", "--no-guardian", "--state-dir", n1.stateDir],
      env: { HAM_STATE_DIR: n1.stateDir },
      stdout: "null",
      stderr: "piped",
    }).spawn();
    // A HAM that does not refuse serves on: end it so that the test fails instead of hanging.
    const out = await deadline(child.output(), 20_000, "ham to refuse").catch((err) => {
      child.kill("SIGKILL");
      throw err;
    });
    const stderr = new TextDecoder().decode(out.stderr);
    assertEquals(out.code, 1, stderr);
    assert(
      /^ham: EINVAL: Cannot start without --cluster: .*cluster entities of node "n1" \("web"\).*--cluster URL --node-name n1/m
        .test(stderr),
      stderr,
    );
    assertEquals(sampler.max, 1, "a second copy ran");
    assertEquals(sampler.last, 0, "web was started without a lease");
    // With --cluster it starts, and runs web again under a new lease.
    await n1.restart(["--cluster", etcd.url, "--node-name", "n1"]);
    await until(
      async () => {
        const v = await status<EntityView>(n1, "web");
        return v.pid !== null && v.node === "n1" ? v : null;
      },
      "web running on n1 again",
      // The old lease expires first (TTL 2 s), then placement: generous, for a loaded machine.
      30_000,
    ).catch((err) => {
      throw new Error(`${err.message}\n${n1.log()}`);
    });
    assertEquals(sampler.max, 1, "two copies ran at once");
  },
});

Deno.test({
  name: "hamctl apply declares an entity marked cluster: true, and export writes it back",
  ignore: skip,
  fn: async () => {
    await using etcd = await EtcdProcess.start();
    const ttl = ["--cluster-ttl", "3s"];
    await using nodes = await startNodes(["n1", etcd.url, ...ttl], ["n2", etcd.url, ...ttl]);
    const [n1, n2] = nodes;
    const tok = token();
    await using sampler = new CopySampler(tok);
    await using e1 = await events(n1);
    const file = `${n2.stateDir}.ham.yaml`;
    await Deno.writeTextFile(
      file,
      [
        "entities:",
        "  web:",
        "    cluster: true",
        "    placement: [n1, n2]",
        `    command: [/bin/sleep, "${tok}"]`,
        "    conditions:",
        "      death:",
        "        type: death",
        "        flags: [rearm]",
        "        actions:",
        "          restart: { kind: restart, flags: [rearm] }",
        "",
      ].join("\n"),
    );
    try {
      // Applied through n2, placed on n1 (the most preferred), with its condition.
      assertEquals(await n2.ok("apply", file), "create web");
      await e1.next(placedOn("n1"), "web placed on n1");
      const held = await until(async () => {
        const v = await status<EntityView>(n1, "web");
        return v.pid !== null && v.node === "n1" && v.conditions[0]?.actions.length === 1
          ? v
          : null;
      }, "web running on n1 with its restart action");
      assertEquals(held.placement, ["n1", "n2"]);
      assertEquals((await n2.status()).entities.some((e) => e.name === "web"), false);
      // Export writes it back as a cluster entity, from the node that runs it and from the
      // one that does not; applying the file or an export again changes nothing.
      const want = {
        entities: {
          web: {
            cluster: true,
            placement: ["n1", "n2"],
            command: ["/bin/sleep", tok],
            keepOnDeath: false,
            conditions: {
              death: {
                type: "death",
                flags: ["rearm"],
                actions: { restart: { kind: "restart", flags: ["rearm"] } },
              },
            },
          },
        },
      };
      // n2 learns the holder at its next read of the cluster's keys (once per tick).
      await until(async () => {
        const v = await status<HamView>(n2, null);
        return v.cluster?.entities[0]?.node === "n1" ? v : null;
      }, "n2 to see web on n1");
      for (const node of [n1, n2]) {
        const exported = await node.ok("export", "--json");
        assertEquals(exported, want, `export on ${node.stateDir}`);
        assertEquals(await node.ok("apply", file), `No changes: the HAM already matches "${file}"`);
      }
      const again = `${n2.stateDir}.export.yaml`;
      await Deno.writeTextFile(again, await n1.ok("export"));
      try {
        assertEquals(await n2.ok("apply", again), `No changes: the HAM already matches "${again}"`);
      } finally {
        await Deno.remove(again);
      }
      // A changed command is refused, naming the way: the HAM replaces only local entities.
      await Deno.writeTextFile(file, (await Deno.readTextFile(file)).replace(tok, `${tok}1`));
      const refused = await n2.ctl("apply", file);
      assertEquals(refused.code, 1, refused.stderr);
      assert(/Cannot update cluster entity "web" in place/.test(refused.stderr), refused.stderr);
      assertEquals(sampler.max, 1, "two copies ran at once");
      assertEquals(sampler.last, 1);
    } finally {
      await Deno.remove(file);
    }
  },
});

Deno.test({
  name: "a notify action reaches a member of the cluster by name through the registry",
  ignore: skip,
  fn: async () => {
    await using etcd = await EtcdProcess.start();
    const certs = await makeCerts([]);
    try {
      // Each member serves mutual TLS with the one server certificate (CN "server"), which
      // is also what it dials the others with: no nodes file anywhere.
      const tls = (port: number) => [
        "--listen",
        `127.0.0.1:${port}`,
        "--tls-cert",
        certs.serverCert,
        "--tls-key",
        certs.serverKey,
        "--tls-ca",
        certs.ca,
        "--tls-role",
        "server=report",
      ];
      const ttl = ["--cluster-ttl", "3s"];
      await using nodes = await startNodes(
        ["n1", etcd.url, ...ttl, ...tls(freePort())],
        ["n2", etcd.url, ...ttl, ...tls(freePort())],
      );
      const [n1, n2] = nodes;
      await until(async () => {
        const v = await status<HamView>(n1, null);
        return v.cluster?.nodes.includes("n2") ? v : null;
      }, "n1 to see n2 in the registry");
      await using onB = await connect({ stateDir: n2.stateDir, client: "test" });
      const ops = await onB.subscribe({ channel: "ops" });
      await using onA = await connect({ stateDir: n1.stateDir, client: "test" });
      const fallback = await onA.subscribe({ channel: "fallback" });
      await n1.ok("attach", "web", "--", "/bin/sleep", "1000");
      await n1.ok("condition", "web/death", "death");
      await n1.ok("action", "web/death/far", "notify", "--channel", "ops", "--to-node", "n2");
      await n1.ok("action", "web/death/gone", "notify", "--channel", "ops", "--to-node", "n9");
      await n1.ok("action-fail", "web/death/gone", "tell", "notify", "--channel", "fallback");
      const web = (await n1.status()).entities.find((e) => e.name === "web")!;
      Deno.kill(web.pid!, "SIGKILL");
      const got = (await deadline(ops[Symbol.asyncIterator]().next(), 20_000, "ops on n2")).value!;
      assertEquals([got.entity, got.action, got.detail?.from], ["web", "far", "server"]);
      // A node that is neither in a nodes file nor in the registry: ENOENT, the fail list runs.
      const told = await deadline(fallback[Symbol.asyncIterator]().next(), 20_000, "fallback");
      assertEquals(told.value?.action, "gone");
      assert(/cannot forward it to node "n9": ENOENT/.test(n1.log()), n1.log());
    } finally {
      await Deno.remove(certs.dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "a cluster entity never kills a local entity of the same name on another node",
  ignore: skip,
  fn: async () => {
    await using etcd = await EtcdProcess.start();
    const ttl = ["--cluster-ttl", "3s"];
    await using nodes = await startNodes(["n1", etcd.url, ...ttl], ["n2", etcd.url, ...ttl]);
    const [n1, n2] = nodes;
    await using e1 = await events(n1);
    const tok = token();
    await n2.ok("attach", "db", "--", "/bin/sleep", `${tok}1`);
    const before = await status<EntityView>(n2, "db");
    assert(before.pid !== null);
    // Declared through the node that has a local db: refused.
    const here = await n2.ctl("attach", "db", "--cluster", "--", "/bin/sleep", `${tok}2`);
    assertEquals(here.code === 0, false, here.stdout);
    assert(/EEXIST.*local entity/.test(here.stderr), here.stderr);
    // Declared through n1, n2 preferred: n2 leaves its local db alone, n1 runs the cluster one.
    await n1.ok("attach", "db", "--cluster", "--placement", "n2,n1", "--", "/bin/sleep", `${tok}2`);
    await e1.next((ev) => ev.type === "placed" && ev.entity === "db", "db placed on n1");
    await until(
      () => Promise.resolve(/Cluster entity "db" has the name of a local entity/.test(n2.log())),
      "n2 to see db held by n1",
    ).catch((err) => {
      throw new Error(`${err.message}\n${n2.log()}`);
    });
    const after = (await n2.status()).entities.find((e) => e.name === "db");
    assertEquals([after?.pid, after?.state], [before.pid, before.state]);
    assert(!/fenced/.test(n2.log()), n2.log());
    // A local attach of a cluster entity's name, at once (n2's view may not have it yet).
    await n1.ok("attach", "web", "--cluster", "--placement", "n1", "--", "/bin/sleep", `${tok}3`);
    for (const op of [["attach", "web", "--", "/bin/sleep", `${tok}4`], ["entity", "web"]]) {
      const refused = await n2.ctl(...op);
      assertEquals(refused.code === 0, false, refused.stdout);
      assert(/EEXIST.*cluster entity/.test(refused.stderr), refused.stderr);
    }
  },
});

Deno.test({
  name: "a cluster entity detached and declared again between two ticks runs its new command",
  ignore: skip,
  fn: async () => {
    await using etcd = await EtcdProcess.start();
    const ttl = ["--cluster-ttl", "3s"];
    await using nodes = await startNodes(["n1", etcd.url, ...ttl], ["n2", etcd.url, ...ttl]);
    const [n1, n2] = nodes;
    const [old, now] = [token(), token()];
    await using before = new CopySampler(old);
    await using after = new CopySampler(now);
    await using e1 = await events(n1);
    await n2.ok("attach", "web", "--cluster", "--placement", "n1", "--", "/bin/sleep", old);
    await e1.next(placedOn("n1"), "web placed on n1");
    await until(() => Promise.resolve(before.last === 1 ? true : null), "the first command");
    // The holder does not tick in between: its HAM is stopped for the two requests.
    const { hamPid } = await n1.pids();
    await using c = await n2.client();
    Deno.kill(hamPid, "SIGSTOP");
    try {
      await c.request("detach", { entity: "web" });
      await c.request("attach", clusterAttach(["/bin/sleep", now], ["n1"]));
    } finally {
      Deno.kill(hamPid, "SIGCONT");
    }
    await until(
      () => Promise.resolve(after.last === 1 && before.last === 0 ? true : null),
      "the new command running, the old one ended",
    ).catch((err) => {
      throw new Error(`${err.message}\n${n1.log()}`);
    });
    const web = await status<EntityView>(n1, "web");
    assertEquals([web.node, web.pid !== null], ["n1", true]);
  },
});

Deno.test({
  name: "status and detach of a cluster entity work through a member that has not ticked since",
  ignore: skip,
  fn: async () => {
    await using etcd = await EtcdProcess.start();
    // TTL 60 s: a tick every 6 s, so n2 reads the cluster's keys neither between the
    // declaration through n1 and the requests through n2, nor for a while after.
    const ttl = ["--cluster-ttl", "60s"];
    await using nodes = await startNodes(["n1", etcd.url, ...ttl], ["n2", etcd.url, ...ttl]);
    const [n1, n2] = nodes;
    // n2 has read the cluster's keys once (its view holds a node): the next time is 6 s away.
    await until(async () => {
      const v = await status<HamView>(n2, null);
      return v.cluster?.nodes.length ? v : null;
    }, "n2's first read of the cluster's keys");
    const tok = token();
    await using c1 = await n1.client();
    await c1.request("attach", clusterAttach(["/bin/sleep", tok], ["n1"]));
    await using c2 = await n2.client();
    const seen = await c2.request("status", { path: "web" }) as unknown as EntityView;
    assertEquals(seen.placement, ["n1"]);
    assertEquals(seen.pid, null);
    assertEquals(await c2.request("detach", { entity: "web" }), { entity: "web" });
    // Undeclared in etcd: the next status through n2 finds it nowhere.
    const gone = await n2.ctl("status", "web");
    assert(/ENOENT/.test(gone.stderr), gone.stderr);
    // n1 stops running web at its next tick, by detaching it (a detach never kills), or at
    // its stop, by withdrawing it, whichever comes first: the test ends what it started.
    for (const pid of await processesOf(n1.stateDir)) {
      const argv = await Deno.readTextFile(`/proc/${pid}/cmdline`).catch(() => "");
      if (!argv.includes(tok)) continue;
      try {
        Deno.kill(pid, "SIGKILL");
      } catch { /* gone */ }
      await until(() => Promise.resolve(!alive(pid)), `pid ${pid} gone`);
    }
  },
});

Deno.test({
  name: "a local request on a member that etcd does not answer does not wait for etcd",
  ignore: skip,
  fn: async () => {
    await using etcd = await EtcdProcess.start();
    // TTL 8 s: a request to etcd gives up after 2 s, which a local attach must not wait for.
    await using nodes = await startNodes(["n1", etcd.url, "--cluster-ttl", "8s"]);
    const [n1] = nodes;
    const tok = token();
    etcd.pause();
    try {
      // Its ticks find out (one request's time limit at most), and status says so.
      await until(
        async () => {
          const v = await status<HamView>(n1, null);
          return v.cluster?.unreachableSince ? v : null;
        },
        "n1 to find etcd unreachable",
        15_000,
      );
      assert(/^Cluster etcd *: unreachable since \d{4}-/m.test(await n1.ok("status")));
      await using c = await n1.client();
      const local = { ...clusterAttach(["/bin/sleep", tok], []), entity: "local" };
      delete (local as { cluster?: unknown }).cluster;
      for (
        const [what, ask] of [
          ["attach", () => c.request("attach", local)],
          ["status of an unknown name", () => c.request("status", { path: "nosuch" })],
          ["detach of an unknown name", () => c.request("detach", { entity: "nosuch" })],
        ] as const
      ) {
        const t0 = performance.now();
        await (ask as () => Promise<unknown>)().catch((err) => {
          if ((err as { code?: string }).code !== "ENOENT") throw err;
        });
        const ms = performance.now() - t0;
        assert(ms < 1000, `${what} took ${ms.toFixed(0)} ms: it waited for etcd`);
      }
      assert((await status<EntityView>(n1, "local")).pid !== null);
    } finally {
      etcd.resume();
    }
  },
});

Deno.test({
  name: "a takeover while etcd does not answer keeps the copy up to the fencing point",
  ignore: skip,
  fn: async () => {
    await using etcd = await EtcdProcess.start();
    // TTL 6 s: a request to etcd gives up after 1.5 s, a holder fences 4.8 s after its last
    // renewal; its lease ends no sooner than 6 s after it.
    await using nodes = await startNodes(["n1", etcd.url, "--cluster-ttl", "6s"]);
    const [n1] = nodes;
    const tok = token();
    await using sampler = new CopySampler(tok);
    await n1.ok("attach", "web", "--cluster", "--placement", "n1", "--", "/bin/sleep", tok);
    const web = await until(async () => {
      const v = await status<EntityView>(n1, "web");
      return v.pid !== null ? v : null;
    }, "web running on n1");
    // etcd is back before the fencing point: the HAM that took over kept the copy.
    etcd.pause();
    const frozen = performance.now();
    await n1.waitTakeover(await n1.killHam());
    etcd.resume();
    const back = performance.now() - frozen;
    await until(async () => {
      const v = await status<HamView>(n1, null);
      return v.cluster?.unreachableSince === null ? v : null;
    }, "renewals again");
    if (back < 4800 - 600) {
      assertEquals((await status<EntityView>(n1, "web")).pid, web.pid, n1.log());
      assert(/kept lease \d+, last renewed \d+ ms ago: etcd does not answer/.test(n1.log()));
      assert(!/Cluster entity "web" fenced/.test(n1.log()), n1.log());
    } else console.log(`the takeover took ${back.toFixed(0)} ms: past the fencing point`);
    // etcd stays away: the HAM that took over fences where the one before would have, before
    // the lease can end (its last renewal was a tick, 0.6 s, before etcd froze at most).
    etcd.pause();
    try {
      const again = performance.now();
      await n1.waitTakeover(await n1.killHam());
      await until(() => Promise.resolve(!alive(web.pid!) || null), "the fence", 15_000);
      const ms = performance.now() - again;
      assert(ms < 6000 - 600, `fenced ${ms.toFixed(0)} ms after etcd froze: too late`);
    } finally {
      etcd.resume();
    }
    assertEquals(sampler.max, 1, "two copies ran at once");
  },
});
