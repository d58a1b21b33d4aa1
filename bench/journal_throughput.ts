/**
 * Journal throughput with group commit: C concurrent clients each sending journaled
 * changes (placeholder entities) one after another for a fixed time; every answer means
 * the change was fsync'd. Reports acknowledged changes per second.
 *
 * @module
 */

import { HamClient } from "../lib/client/client.ts";
import { HamProcess } from "../tests/support/ham_process.ts";
import { type Figure, figure } from "./stats.ts";

/** Measures acknowledged changes/s with `clients` concurrent clients over `seconds`. */
export async function measureJournalThroughput(clients: number, seconds: number): Promise<Figure> {
  await using h = await HamProcess.start({ guardian: false });
  const conns = await Promise.all(
    Array.from({ length: clients }, () => HamClient.connect({ stateDir: h.stateDir })),
  );
  let acked = 0;
  const end = performance.now() + seconds * 1000;
  try {
    await Promise.all(conns.map(async (c, i) => {
      for (let n = 0; performance.now() < end; n++) {
        await c.request("entity", { entity: `c${i}-${n}`, flags: 0 });
        acked++;
      }
    }));
  } finally {
    await Promise.all(conns.map((c) => c.close()));
  }
  const rate = acked / seconds;
  return figure({
    id: `journal-throughput-${clients}`,
    label: `journal: acknowledged changes/s, ${clients} concurrent client(s)`,
    unit: "/s",
    target: null,
    note: "each acknowledged after its group-committed fdatasync",
  }, [rate]);
}
