/** EtcdClient on a real etcd: what counts as an answer, and a revoke of an ended lease. */

import { deepEqual as assertEquals, ok as assert, rejects } from "node:assert/strict";
import { EtcdClient, EtcdUnavailable } from "../../../lib/cluster/etcd_client.ts";
import { etcdBinary, EtcdProcess } from "../../support/etcd_process.ts";

const skip = etcdBinary() === null;

Deno.test({
  name: "EtcdClient.revoke() of a lease that has ended is no error, and other refusals are",
  ignore: skip,
  fn: async () => {
    await using etcd = await EtcdProcess.start();
    const client = new EtcdClient(etcd.url, 2000);
    const { id } = await client.grant(5);
    await client.revoke(id);
    await client.revoke(id); // Ended already: etcd answers "not found".
    assertEquals(await client.keepAlive(id), 0);
    // A refusal is an answer: etcd is reachable.
    await rejects(
      client.put("", "x"),
      (err) => err instanceof EtcdUnavailable && err.grpcCode === 3,
    );
    assertEquals(client.unreachableSince, null);
  },
});

Deno.test({
  name: "EtcdClient.unreachableSince is when etcd stopped answering, null once it answers",
  ignore: skip,
  fn: async () => {
    await using etcd = await EtcdProcess.start();
    const client = new EtcdClient(etcd.url, 200);
    await client.range("/");
    assertEquals(client.unreachableSince, null);
    etcd.pause();
    const before = Date.now();
    try {
      await rejects(
        client.range("/"),
        (err) => err instanceof EtcdUnavailable && err.grpcCode === null,
      );
      const since = client.unreachableSince;
      assert(since !== null && since >= before && since <= Date.now(), `${since}`);
      // Still the first time it did not answer.
      await rejects(client.range("/"), EtcdUnavailable);
      assertEquals(client.unreachableSince, since);
    } finally {
      etcd.resume();
    }
    await client.range("/");
    assertEquals(client.unreachableSince, null);
  },
});
