import { deepEqual as assertEquals, equal, ok } from "node:assert/strict";
import { droppable, mappingsOf } from "../../../lib/os/start_up_pages.ts";

const MAPS = `55fdf2331000-55fdf3ebf000 r--p 00000000 fd:01 123                        /opt/deno
55fdf4135000-55fdf7e29000 r-xp 01c03000 fd:01 123                        /opt/deno
55fdf7e29000-55fdf809b000 rw-p 058f6000 fd:01 123                        /opt/deno
55fdf80ab000-55fdf80ac000 r--p 05b77000 fd:01 123                        /opt/deno
7fbe57dc0000-7fbe57fe6000 r-xp 00000000 fd:01 456                        /usr/lib/libc.so.6
7fbe7ae00000-7fbe7b3b9000 r--s 00000000 fd:01 789                        /opt/deno
7fbe7b400000-7fbe7b500000 rw-p 00000000 00:00 0
7fbe7b500000-7fbe7b600000 rw-p 00000000 00:00 0                          [heap]
`;

Deno.test("mappingsOf() reads the mappings of one file from /proc/PID/maps", () => {
  const m = mappingsOf(MAPS, "/opt/deno");
  assertEquals(m.map((x) => [x.perms, x.offset]), [
    ["r--p", 0],
    ["r-xp", 0x1c03000],
    ["rw-p", 0x58f6000],
    ["r--p", 0x5b77000],
    ["r--s", 0],
  ]);
  equal(m[0].start, 0x55fdf2331000n);
  equal(m[0].end, 0x55fdf3ebf000n);
  assertEquals(mappingsOf(MAPS, ""), [], "anonymous mappings have no path");
});

Deno.test("droppable() keeps the code and the first read-only segment, never data, RELRO or shared", () => {
  const d = droppable(mappingsOf(MAPS, "/opt/deno"));
  assertEquals(d.map((x) => [x.perms, x.offset]), [["r--p", 0], ["r-xp", 0x1c03000]]);
});

Deno.test("dropStartUpPages() drops resident pages of the executable, and code keeps running", async () => {
  // In a process of its own: the test runner's other files would fault pages back meanwhile.
  const module = new URL("../../../lib/os/start_up_pages.ts", import.meta.url).href;
  const code = `
    const { dropStartUpPages } = await import(${JSON.stringify(module)});
    const rss = () => Number(/Rss:\\s+(\\d+)/.exec(Deno.readTextFileSync("/proc/self/smaps_rollup"))[1]);
    const before = rss();
    const kib = dropStartUpPages();
    const after = rss();
    // The runtime faults back what it runs: JSON, regular expressions, file I/O.
    const works = JSON.parse(JSON.stringify({ a: [1, 2] })).a[1] === 2 && /b+/.test("abbc") &&
      Deno.readTextFileSync("/proc/self/comm").length > 0;
    console.log(JSON.stringify({ before, kib, after, works }));
  `;
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["eval", "--ext=ts", code],
    stdout: "piped",
    stderr: "inherit",
  }).output();
  equal(out.code, 0);
  const r = JSON.parse(new TextDecoder().decode(out.stdout));
  ok(r.kib > 1024, `RSS fell by ${r.kib} KiB`);
  ok(r.after < r.before, `RSS ${r.before} -> ${r.after} KiB`);
  ok(r.works);
});
