import assert from "node:assert/strict";
import { posix } from "node:path";
import { basename, dirname, join, normalize } from "../../../lib/core/paths.ts";

const PATHS = [
  "",
  "/",
  "a",
  "a/",
  "/a",
  "/a/",
  "a/b",
  "/a/b/",
  "/a/../..",
  "../a",
  "a/..",
  "./a",
  "a/./b/",
  ".",
  "..",
  "../..",
  "/a/b/../c",
  "a/../../b",
  "///a//b//",
  "/run/ham/journal/0000000000000001.log",
];

Deno.test("normalize(), dirname() and basename() agree with node:path's POSIX ones", () => {
  for (const p of PATHS) {
    assert.equal(normalize(p), posix.normalize(p), `normalize ${JSON.stringify(p)}`);
    assert.equal(basename(p), posix.basename(p), `basename ${JSON.stringify(p)}`);
    if (!p.includes("//")) assert.equal(dirname(p), posix.dirname(p), `dirname ${p}`);
  }
});

Deno.test("join() skips empty parts and normalizes like node:path's POSIX join", () => {
  const cases = [
    ["a", ""],
    ["", ""],
    ["/a", "../b"],
    ["a", "/b"],
    ["/run/ham/", "journal"],
    [
      "a",
      "..",
    ],
    ["", "a"],
    ["/s", "snapshots", "0001.snap"],
  ];
  for (const c of cases) assert.equal(join(...c), posix.join(...c), JSON.stringify(c));
});
