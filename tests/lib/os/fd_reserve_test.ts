import { equal, ok } from "node:assert/strict";
import {
  dropReserve,
  holdReserve,
  raiseDescriptorLimit,
  spendReserve,
} from "../../../lib/os/fd_reserve.ts";

const BIN = new URL("../../../bin/", import.meta.url).pathname;
const MODULE = new URL("../../../lib/os/fd_reserve.ts", import.meta.url).href;

Deno.test("spendReserve() lends the held descriptor to a process that ran out", async () => {
  // Under a hard limit of 64 descriptors: use them all, then read a file with the reserve.
  const script = `
    import { holdReserve, outOfDescriptors, spendReserve } from "${MODULE}";
    holdReserve();
    const files = [];
    try { for (;;) files.push(Deno.openSync("/dev/null")); } catch (err) {
      if (!outOfDescriptors(err)) throw err;
    }
    let direct = "read";
    try { Deno.readFileSync("/proc/self/stat"); } catch (err) { direct = String(outOfDescriptors(err)); }
    const lent = spendReserve(() => Deno.readFileSync("/proc/self/stat").length > 0);
    const again = spendReserve(() => Deno.readFileSync("/proc/self/stat").length > 0);
    console.log(JSON.stringify({ direct, lent, again }));
  `;
  const out = await new Deno.Command("prlimit", {
    args: ["--nofile=64:64", "--", `${BIN}deno`, "eval", "--quiet", script],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(out.stdout).trim();
  equal(out.code, 0, new TextDecoder().decode(out.stderr));
  equal(text, JSON.stringify({ direct: "true", lent: true, again: true }));
});

Deno.test("spendReserve() does nothing without a held reserve, or while it is spent", () => {
  ok(holdReserve());
  equal(spendReserve(() => spendReserve(() => "nested")), null, "one spender at a time");
  dropReserve();
  equal(spendReserve(() => "none held"), null);
});

Deno.test("raiseDescriptorLimit() sets the soft limit to the hard one", () => {
  const limits = raiseDescriptorLimit();
  ok(limits !== null);
  equal(limits.soft, limits.hard);
});
