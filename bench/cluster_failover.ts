/**
 * Cross-node failover: three HAMs (each with its Guardian) joined to a real etcd, one
 * cluster entity; each round SIGKILLs the holder's HAM, Guardian and worker together and
 * times kill → `placed` on another node (the entity running there), while a sampler counts
 * the copies running at once. The killed node is then started again for the next round.
 * Anchors: Patroni's default leader TTL is 30 s; Kubernetes evicts after 40 s of node
 * silence plus a 300 s toleration.
 *
 * @module
 */

import { connect } from "../lib/client/ham.ts";
import type { HamEvent } from "../lib/core/protocol.ts";
import { etcdBinary, EtcdProcess } from "../tests/support/etcd_process.ts";
import { HamProcess, processesOf } from "../tests/support/ham_process.ts";
import { type Figure, figure } from "./stats.ts";

/** Copies of the command line holding `token`, counted with one grep over /proc. */
async function copies(token: string): Promise<number> {
  const out = await new Deno.Command("/bin/sh", {
    args: [
      "-c",
      'grep -l -- "$1" /proc/[0-9]*/cmdline 2>/dev/null; true',
      "sh",
      token.replace(".", "[.]"),
    ],
    stdout: "piped",
    stderr: "null",
  }).output();
  return new TextDecoder().decode(out.stdout).split("\n").filter((l) => l).length;
}

/**
 * Subscribes to every node but `except`; the function returned resolves with
 * `performance.now()` when one of them publishes `placed`, and which.
 */
async function watchPlacement(
  nodes: HamProcess[],
  except: number,
): Promise<() => Promise<{ at: number; to: number }>> {
  const subs = await Promise.all(
    nodes.map(async (n, i) => {
      if (i === except) return null;
      const lib = await connect({ stateDir: n.stateDir, client: "bench" });
      return { lib, events: await lib.subscribe({}), i };
    }),
  );
  return async () => {
    try {
      return await Promise.race(
        subs.filter((s) => s !== null).map(async (s) => {
          for await (const ev of s!.events as AsyncIterable<HamEvent>) {
            if (ev.type === "placed") return { at: performance.now(), to: s!.i };
          }
          return await new Promise<never>(() => {});
        }),
      );
    } finally {
      for (const s of subs) s?.lib.close();
    }
  };
}

/** Measures `rounds` failovers; an empty list when etcd is not installed. */
export async function measureClusterFailover(rounds: number): Promise<Figure[]> {
  if (etcdBinary() === null) return [];
  await using etcd = await EtcdProcess.start();
  const names = ["n1", "n2", "n3"];
  const args = (name: string) => ["--cluster", etcd.url, "--node-name", name];
  const nodes = await Promise.all(names.map((name) => HamProcess.start({ args: args(name) })));
  const token = `100000.${crypto.getRandomValues(new Uint32Array(1))[0]}`;
  const times: number[] = [];
  const overlaps: number[] = [];
  let sampling = true;
  let most = 0;
  const sampler = (async () => {
    while (sampling) {
      most = Math.max(most, await copies(token));
      await new Promise((r) => setTimeout(r, 20));
    }
  })();
  try {
    let holder = 0;
    const first = (await watchPlacement(nodes, -1))();
    await nodes[0].ok(
      "attach",
      "web",
      "--cluster",
      "--placement",
      names.join(","),
      "--",
      "/bin/sleep",
      token,
    );
    holder = (await first).to;
    for (let round = 0; round < rounds; round++) {
      most = 0;
      const placed = await watchPlacement(nodes, holder);
      const victims = await processesOf(nodes[holder].stateDir);
      const killedAt = performance.now();
      for (const pid of victims) Deno.kill(pid, "SIGKILL");
      const { at, to } = await placed();
      times.push(at - killedAt);
      await nodes[holder].restart(args(names[holder]));
      overlaps.push(Math.max(0, most - 1));
      holder = to;
    }
  } finally {
    sampling = false;
    await sampler;
    await Promise.all(nodes.map((n) => n[Symbol.asyncDispose]()));
  }
  return [
    figure({
      id: "cluster.failover",
      label:
        "cluster failover: SIGKILL of the holder's HAM, Guardian and worker → running on another node (TTL 2 s)",
      unit: "ms",
      target: {
        p95: 3000,
        text: "p95 ≤ 3 s",
        others: "Patroni leader TTL 30 s; Kubernetes 40 s + 300 s toleration",
      },
    }, times),
    figure({
      id: "cluster.overlaps",
      label: "cluster failover: copies running at once beyond one, per round",
      unit: "",
      target: { median: 0, p95: 0, text: "0" },
    }, overlaps),
  ];
}
