/**
 * ClusterNode on a real etcd with fake hosts (no HAM): how it applies edits, places and
 * gives up entities. The HAM side is the fake's, so each test states what its HAM does.
 */

import { deepEqual as assertEquals, ok as assert } from "node:assert/strict";
import { type ClusterHost, ClusterNode } from "../../../lib/cluster/cluster_node.ts";
import type { ClusterAttach, ClusterSpec, EditRequest } from "../../../lib/cluster/cluster_spec.ts";
import { HamError } from "../../../lib/core/errors.ts";
import { etcdBinary, EtcdProcess } from "../../support/etcd_process.ts";
import { until } from "../../support/ham_process.ts";

const skip = etcdBinary() === null;

/** A HAM as the node sees it: entities with their conditions, and what was logged. */
class FakeHost implements ClusterHost {
  entities = new Map<string, Set<string>>();
  logs: string[] = [];
  events: string[] = [];
  /** Makes `place` fail for these entities. */
  failPlace = new Set<string>();
  /** Makes these edits (by `op path`) fail with EINVAL. */
  failEdit = new Set<string>();
  /** Makes `place` of these entities wait, after the placeholder, until the promise resolves. */
  slowPlace = new Map<string, Promise<void>>();

  hasEntity(name: string): boolean {
    return this.entities.has(name);
  }
  /** Entities with a process: placed ones, unless a test says otherwise. */
  running = new Set<string>();
  isRunning(name: string): boolean {
    return this.running.has(name);
  }
  async place(spec: ClusterSpec): Promise<void> {
    await Promise.resolve();
    this.entities.set(spec.name, new Set()); // The placeholder, before the attach.
    await this.slowPlace.get(spec.name);
    if (this.failPlace.has(spec.name)) {
      throw new HamError("ENOENT", `Cannot start "${spec.name}": no such directory`);
    }
    // The attach makes the entity again if it was removed meanwhile, as the engine's does.
    if (!this.entities.has(spec.name)) this.entities.set(spec.name, new Set());
    this.running.add(spec.name);
    for (const edit of spec.edits) this.#apply(edit);
  }
  async edit(_name: string, edits: EditRequest[]): Promise<void> {
    await Promise.resolve();
    for (const edit of edits) this.#apply(edit);
  }
  #apply(edit: EditRequest): void {
    const { entity, condition } = edit.path as { entity: string; condition: string };
    const conditions = this.entities.get(entity)!;
    if (this.failEdit.has(`${edit.op} ${entity}/${condition}`)) {
      throw new HamError("EINVAL", `Cannot ${edit.op} "${entity}/${condition}"`);
    }
    if (edit.op === "condition") conditions.add(condition);
    if (edit.op === "condition-remove" && !conditions.delete(condition)) {
      throw new HamError("ENOENT", `Cannot find condition "${entity}/${condition}"`);
    }
  }
  async withdraw(name: string): Promise<void> {
    await Promise.resolve();
    this.entities.delete(name);
    this.running.delete(name);
    this.withdrawn.push(name);
  }
  /** What was withdrawn, in order. */
  withdrawn: string[] = [];
  async detach(name: string): Promise<void> {
    await Promise.resolve();
    this.entities.delete(name);
    this.running.delete(name);
  }
  publish(type: string, entity: string, _detail: Record<string, unknown>): void {
    this.events.push(`${type} ${entity}`);
  }
  log(level: string, message: string): void {
    this.logs.push(`${level}: ${message}`);
  }
  errors(): string[] {
    return this.logs.filter((l) => l.startsWith("error"));
  }
}

/** A node on its own state directory, stopped and removed by `await using`. */
async function startNode(etcd: EtcdProcess, name: string, host: FakeHost, ttlMs = 2000) {
  const dir = await Deno.makeTempDir({ prefix: "ham-cluster-node-" });
  const node = new ClusterNode({ endpoint: etcd.url, nodeName: name, ttlMs }, dir, host);
  await node.recover([]);
  node.start();
  return Object.assign(node, {
    async [Symbol.asyncDispose]() {
      await node.stop();
      await Deno.remove(dir, { recursive: true });
    },
  });
}

const attach = (entity: string): ClusterAttach => ({
  op: "attach",
  entity,
  argv: ["/bin/sleep", "1000"],
  cwd: null,
  env: null,
  flags: 0,
  heartbeat: null,
});

const condition = (entity: string, name: string): EditRequest => ({
  id: 1,
  op: "condition",
  path: { entity, condition: name },
  type: "death",
  flags: 0,
  from: 0,
  to: 0,
  rtype: 0,
  rclass: 0,
  rseverity: 0,
});

const conditionRemove = (entity: string, name: string): EditRequest => ({
  id: 2,
  op: "condition-remove",
  path: { entity, condition: name },
});

/** Resolves once a few more ticks (0.2 s each at TTL 2 s) have run on `host`'s node. */
async function ticks(n: number): Promise<void> {
  const end = performance.now() + n * 200;
  await until(() => Promise.resolve(performance.now() >= end ? true : null), `${n} ticks`);
}

Deno.test({
  name: "an edit the holder cannot apply is passed over, and wedges neither it nor the others",
  ignore: skip,
  fn: async () => {
    await using etcd = await EtcdProcess.start();
    const host = new FakeHost();
    await using n1 = await startNode(etcd, "n1", host);
    await n1.declare(attach("st"), ["n1"]);
    await n1.edit("st", condition("st", "death"));
    await n1.edit("st", condition("st", "bad"));
    await until(() => Promise.resolve(host.entities.get("st")?.has("bad") || null), "st placed");
    // Its HAM pruned "death" (not re-armed, it fired), which the definition still holds:
    // removing it through the cluster is accepted, and is done here already.
    host.entities.get("st")!.delete("death");
    await n1.edit("st", conditionRemove("st", "death"));
    // An edit that fails otherwise is logged, once, and the next ones still arrive.
    host.failEdit.add("condition-remove st/bad");
    await n1.edit("st", conditionRemove("st", "bad"));
    await n1.edit("st", condition("st", "later"));
    await until(() => Promise.resolve(host.entities.get("st")?.has("later") || null), "later");
    // Another entity, sorted after it, is placed.
    await n1.declare(attach("zz"), ["n1"]);
    await until(() => Promise.resolve(host.entities.has("zz") || null), "zz placed");
    await ticks(5);
    const errors = host.errors();
    assertEquals(errors.length, 1, errors.join("\n"));
    assert(/edit condition-remove st\/bad here, passed over: HamError: Cannot/.test(errors[0]));
    assertEquals([...host.entities.get("st")!].sort(), ["bad", "later"]);
  },
});

Deno.test({
  name: "a node that cannot place an entity gives it up to another eligible node",
  ignore: skip,
  fn: async () => {
    await using etcd = await EtcdProcess.start();
    const h1 = new FakeHost();
    const h2 = new FakeHost();
    h1.failPlace.add("web"); // Say its cwd is missing on n1.
    await using n1 = await startNode(etcd, "n1", h1);
    await using n2 = await startNode(etcd, "n2", h2);
    await until(() => Promise.resolve(n1.view().nodes.length === 2 || null), "n1 to see n2");
    await n2.declare(attach("web"), ["n1", "n2"]);
    await until(() => Promise.resolve(h2.entities.has("web") || null), "web placed on n2");
    assertEquals(h1.entities.has("web"), false, "n1 kept its placeholder");
    assertEquals(n1.holds("web"), false);
    assertEquals(n2.holds("web"), true);
    await until(
      () => Promise.resolve(n1.view().entities[0]?.node === "n2" || null),
      "n1 to see web on n2",
    );
    const given = h1.errors();
    assertEquals(given.length, 1, given.join("\n"));
    assert(/Cannot place cluster entity "web" on "n1", given up for another node/.test(given[0]));
    assertEquals(h2.events[0], "placed web");
  },
});

Deno.test({
  name: "a node that could not place an entity tries again after backing off",
  ignore: skip,
  fn: async () => {
    await using etcd = await EtcdProcess.start();
    const host = new FakeHost();
    host.failPlace.add("web");
    await using n1 = await startNode(etcd, "n1", host);
    await n1.declare(attach("web"), ["n1"]);
    await until(() => Promise.resolve(host.errors().length > 0 || null), "a failed placement");
    assertEquals(n1.holds("web"), false);
    host.failPlace.delete("web");
    // Held as soon as won, placed a moment later (the place is awaited after): wait for both.
    await until(
      () => Promise.resolve((n1.holds("web") && host.entities.has("web")) || null),
      "web placed again",
    );
    assertEquals(n1.view().entities[0]?.node ?? "n1", "n1");
  },
});

Deno.test({
  name: "a copy whose placement ends after its node fenced is withdrawn, not left running",
  ignore: skip,
  fn: async () => {
    await using etcd = await EtcdProcess.start();
    const host = new FakeHost();
    const started = Promise.withResolvers<void>();
    host.slowPlace.set("web", started.promise);
    await using n1 = await startNode(etcd, "n1", host);
    try {
      await n1.declare(attach("web"), ["n1"]);
      await until(() => Promise.resolve(host.entities.has("web") || null), "the placement");
      // etcd stops answering while the node's HAM is starting web (a slow disk, say): the
      // node fences it before the placement ends.
      etcd.pause();
      try {
        await until(() => Promise.resolve(host.events.includes("fenced web") || null), "a fence");
      } finally {
        etcd.resume();
      }
    } finally {
      host.slowPlace.delete("web");
      started.resolve();
    }
    // The copy started after the fence is under no lease: withdrawn, then placed anew.
    await until(
      () => Promise.resolve((n1.holds("web") && host.entities.has("web")) || null),
      "web placed again under a new lease",
    ).catch((err) => {
      throw new Error(`${err.message}\n${host.logs.join("\n")}`);
    });
    assertEquals(host.errors(), []);
    assertEquals(host.events.filter((e) => e === "placed web").length, 1, host.events.join());
  },
});

Deno.test({
  name: "a placement slower than the fencing point does not keep the node from renewing",
  ignore: skip,
  fn: async () => {
    await using etcd = await EtcdProcess.start();
    const host = new FakeHost();
    const started = Promise.withResolvers<void>();
    host.slowPlace.set("web", started.promise);
    await using n1 = await startNode(etcd, "n1", host);
    try {
      await n1.declare(attach("web"), ["n1"]);
      await until(() => Promise.resolve(host.entities.has("web") || null), "the placement");
      // Past the TTL (2 s) while its HAM is starting web: renewed all along, nothing fenced.
      await ticks(12);
      assertEquals(host.events, []);
    } finally {
      host.slowPlace.delete("web");
      started.resolve();
    }
    await until(() => Promise.resolve(host.events.length > 0 || null), "web placed");
    assertEquals(host.events, ["placed web"]);
    assertEquals([n1.holds("web"), host.entities.has("web")], [true, true]);
    assertEquals(host.logs.filter((l) => /fenced|withdrawn/.test(l)), []);
  },
});

Deno.test({
  name: "a node that fenced in an etcd outage frees its entities as soon as etcd is back",
  ignore: skip,
  fn: async () => {
    await using etcd = await EtcdProcess.start();
    const host = new FakeHost();
    await using n1 = await startNode(etcd, "n1", host, 4000);
    await n1.declare(attach("web"), ["n1"]);
    await until(() => Promise.resolve(host.events.includes("placed web") || null), "web placed");
    await etcd.stop();
    await until(() => Promise.resolve(host.events.includes("fenced web") || null), "the fence");
    // Started again on its data, etcd gives every lease a whole TTL again (4 s here): the
    // one the node gave up would hold web's owner key that long.
    await etcd.restart();
    const back = performance.now();
    await until(
      () => Promise.resolve(host.events.filter((e) => e === "placed web").length === 2 || null),
      "web placed again",
    );
    const ms = performance.now() - back;
    assert(ms < 2000, `placed again ${ms.toFixed(0)} ms after etcd came back`);
    assertEquals(host.events, ["placed web", "fenced web", "placed web"]);
  },
});

for (const started of [false, true]) {
  Deno.test({
    name: started
      ? "a node that takes over from a HAM that died once its copy started keeps that copy"
      : "a node that takes over from a HAM that died while placing an entity places it again",
    ignore: skip,
    fn: async () => {
      await using etcd = await EtcdProcess.start();
      const dir = await Deno.makeTempDir({ prefix: "ham-cluster-node-" });
      const opts = { endpoint: etcd.url, nodeName: "n1", ttlMs: 2000 };
      try {
        // The first HAM wins web and records it as held, then dies while placing it: its
        // node does nothing more (stopped, its place never returns).
        const dying = new FakeHost();
        dying.slowPlace.set("web", new Promise<void>(() => {}));
        const first = new ClusterNode(opts, dir, dying);
        await first.recover([]);
        first.start();
        await first.declare(attach("web"), ["n1"]);
        await until(() => Promise.resolve(dying.entities.has("web") || null), "the placement");
        void first.stop();
        // The next HAM on the state directory keeps the lease, and with it web: it has web's
        // process (adopted: the first HAM had started it) or not (lost with the placeholder).
        const host = new FakeHost();
        if (started) {
          host.entities.set("web", new Set());
          host.running.add("web");
        }
        const next = new ClusterNode(opts, dir, host);
        await next.recover(started ? ["web"] : []);
        next.start();
        try {
          if (started) {
            await ticks(5);
            assertEquals([host.withdrawn, host.events], [[], []], "web was started again");
          } else {
            // No other node can start web while this one holds it: it must.
            await until(
              () => Promise.resolve(host.events.length > 0 || null),
              "web placed by the next HAM",
            ).catch((err) => {
              throw new Error(`${err.message}\n${host.logs.join("\n")}`);
            });
            assertEquals(host.events, ["placed web"]);
          }
          assertEquals([next.holds("web"), host.isRunning("web")], [true, true]);
        } finally {
          await next.stop();
        }
      } finally {
        await Deno.remove(dir, { recursive: true });
      }
    },
  });
}

Deno.test({
  name:
    "a fence whose record cannot be written (the state directory gone) is logged, and the copies are still withdrawn",
  ignore: skip,
  fn: async () => {
    await using etcd = await EtcdProcess.start();
    const host = new FakeHost();
    const dir = await Deno.makeTempDir({ prefix: "ham-cluster-node-" });
    const node = new ClusterNode({ endpoint: etcd.url, nodeName: "n1", ttlMs: 2000 }, dir, host);
    try {
      await node.recover([]);
      node.start();
      await node.declare(attach("web"), ["n1"]);
      await until(() => Promise.resolve(host.entities.has("web") || null), "web placed");
      await Deno.remove(dir, { recursive: true }); // Every write of the node fails now.
      etcd.pause(); // No renewal: the fencing timer fences, and cannot record it.
      try {
        await until(() => Promise.resolve(host.events.includes("fenced web") || null), "a fence");
        await until(
          () => Promise.resolve(host.errors().some((l) => l.includes("Cannot record the fence"))),
          "the failed record logged",
        );
      } finally {
        etcd.resume();
      }
      assertEquals(host.entities.has("web"), false, "withdrawn all the same");
    } finally {
      await node.stop().catch(() => {});
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    }
  },
});
