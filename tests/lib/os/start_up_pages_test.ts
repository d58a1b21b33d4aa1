import { deepEqual as assertEquals, equal, ok } from "node:assert/strict";
import { droppable, dropStartUpPages, mappingsOf } from "../../../lib/os/start_up_pages.ts";

const SMAPS = `55fdf2331000-55fdf3ebf000 r--p 00000000 fd:01 123 /opt/deno
Size:              28216 kB
Rss:               13236 kB
Private_Dirty:         0 kB
Anonymous:             0 kB
55fdf4135000-55fdf7e29000 r-xp 01c03000 fd:01 123 /opt/deno
Rss:               23888 kB
Private_Dirty:         0 kB
Anonymous:             0 kB
55fdf7e29000-55fdf809b000 rw-p 058f6000 fd:01 123 /opt/deno
Rss:                2504 kB
Private_Dirty:      2504 kB
Anonymous:          2504 kB
55fdf80ab000-55fdf80ac000 r--p 05b77000 fd:01 123 /opt/deno
Rss:                   4 kB
Private_Dirty:         4 kB
Anonymous:             4 kB
7fbe57dc0000-7fbe57fe6000 r-xp 00000000 fd:01 456 /usr/lib/libc.so.6
Rss:                2112 kB
Private_Dirty:         0 kB
Anonymous:             0 kB
7fbe7ae00000-7fbe7b3b9000 r--s 00000000 fd:01 789 /opt/deno
Rss:                1024 kB
Private_Dirty:         0 kB
7fbe7ae00000-7fbe7b3b9000 rw-p 00000000 00:00 0
Rss:                1024 kB
Anonymous:          1024 kB
`;

Deno.test("mappingsOf() reads the mappings of one file, with their resident and private sizes", () => {
  const m = mappingsOf(SMAPS, "/opt/deno");
  assertEquals(m.map((x) => [x.perms, x.rssKiB, x.privateKiB]), [
    ["r--p", 13236, 0],
    ["r-xp", 23888, 0],
    ["rw-p", 2504, 5008],
    ["r--p", 4, 8],
    ["r--s", 1024, 0],
  ]);
  equal(m[0].start, 0x55fdf2331000n);
  equal(m[0].end, 0x55fdf3ebf000n);
});

Deno.test("droppable() keeps only read-only private mappings that were never written", () => {
  const d = droppable(mappingsOf(SMAPS, "/opt/deno"));
  // Not the data (written), not the relocated read-only page (copied on write), not a
  // shared mapping.
  assertEquals(d.map((x) => x.perms), ["r--p", "r-xp"]);
});

Deno.test("dropStartUpPages() drops resident pages of the executable, and code keeps running", () => {
  const rss = () =>
    Number(/Rss:\s+(\d+)/.exec(Deno.readTextFileSync("/proc/self/smaps_rollup"))![1]);
  const before = rss();
  const kib = dropStartUpPages();
  const after = rss();
  ok(kib > 1024, `dropped ${kib} KiB`);
  ok(after < before, `RSS ${before} -> ${after} KiB`);
  // The runtime faults back what it runs: JSON, regular expressions, timers, file I/O.
  equal(JSON.parse(JSON.stringify({ a: [1, 2] })).a[1], 2);
  ok(/b+/.test("abbc"));
  equal(Deno.readTextFileSync("/proc/self/comm").trim().length > 0, true);
});
