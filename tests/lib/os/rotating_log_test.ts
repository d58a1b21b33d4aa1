import { deepEqual as assertEquals } from "node:assert/strict";
import { RotatingLog } from "../../../lib/os/rotating_log.ts";

Deno.test("RotatingLog.write() rotates past maxBytes and keeps at most `keep` old files", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const log = new RotatingLog(`${dir}/a.log`, { maxBytes: 10, keep: 2 });
    const enc = new TextEncoder();
    for (const line of ["one\n", "two\n", "three\n", "four\n", "five\n", "six\n"]) {
      log.write(enc.encode(line));
    }
    log.close();
    const names = [...Deno.readDirSync(dir)].map((d) => d.name).sort();
    assertEquals(names, ["a.log", "a.log.1", "a.log.2"]);
    assertEquals(Deno.readTextFileSync(`${dir}/a.log`), "six\n");
    assertEquals(Deno.readTextFileSync(`${dir}/a.log.1`), "four\nfive\n");
    assertEquals(Deno.readTextFileSync(`${dir}/a.log.2`), "three\n");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
