/**
 * ProcScan: one look at `/proc` answering many questions (a resume's), over a fake `/proc`
 * that counts its reads; what it finds to act on is checked again, so a pid handed out
 * again since the scan is never taken for the process the scan saw.
 */

import * as assert from "node:assert/strict";
import { findLeftovers } from "../../../lib/os/leftovers.ts";
import { ProcScan } from "../../../lib/os/proc_scan.ts";
import { FakeProcReader } from "../../support/fake_proc_reader.ts";

const marker = (id: string) => ({ HAM_SPAWN_ID: id, HAM_STATE_DIR: "/state" });
const query = (spawnId: string) => ({
  spawnId,
  group: null,
  since: null,
  spare: null,
  skip: new Set<number>(),
});

Deno.test("ProcScan answers many spawn-marker and leftover questions from one scan of /proc", () => {
  const proc = new FakeProcReader();
  for (let pid = 100; pid < 340; pid++) proc.add(pid, { PATH: "/bin" });
  proc.add(400, marker("a")).add(401, marker("a"), { state: "Z" }).add(402, marker("b"));
  proc.add(403, marker("c")).add(404, marker("c")).add(405, { ...marker("d"), X: "1" });
  proc.add(406, { HAM_SPAWN_ID: "d", HAM_STATE_DIR: "/another" });
  const scan = new ProcScan(proc);
  assert.equal(proc.scans, 0, "nothing read before the first question");
  assert.equal(scan.findSpawned("a", "/state"), 400);
  assert.equal(scan.findSpawned("b", "/state"), 402);
  assert.equal(scan.findSpawned("d", "/state"), 405, "not another state directory's");
  assert.equal(scan.findSpawned("none", "/state"), null);
  const pids = (id: string) => findLeftovers(query(id), 1, scan).map((l) => l.pid);
  assert.deepEqual(pids("c"), [403, 404]);
  assert.deepEqual(pids("a"), [400], "not the zombie");
  assert.deepEqual(findLeftovers(query("c"), 1, scan)[0], { pid: 403, startTime: "40300" });
  assert.equal(proc.scans, 1, "one scan of /proc");
  // An environment is read once by the scan, and once more for each process it returns.
  for (let pid = 100; pid < 340; pid++) assert.equal(proc.environReads.get(pid), 1);
  assert.equal(proc.environReads.get(400), 2);
});

Deno.test("ProcScan.findSpawned() skips a pid handed out again since the scan", () => {
  const proc = new FakeProcReader();
  proc.add(500, marker("r:0")).add(501, marker("r:0")).add(502, marker("s:0"));
  const scan = new ProcScan(proc);
  assert.equal(scan.sawAlive(502, "50200"), true);
  // 500 ended and its pid went to another process; 502 ended.
  proc.add(500, marker("r:0"), { startTime: "99999" });
  proc.remove(502);
  assert.equal(scan.findSpawned("r:0", "/state"), 501);
  assert.equal(scan.findSpawned("s:0", "/state"), null);
  assert.equal(scan.sawAlive(502, "50200"), true, "what the scan saw");
  assert.equal(scan.sawAlive(500, "99999"), false);
});
