/**
 * Lets go of the pages of the Deno executable that a long-lived daemon touched while it
 * started and will not touch again: its read-only mappings of the executable (code, the
 * start-up snapshot, constant data) are dropped from this process's page tables with
 * `madvise(MADV_DONTNEED)`. They are clean and file-backed: they stay in the page cache,
 * the code still running faults its pages back in at once (a minor fault each), and what
 * the daemon never runs again (start-up, module loading, the snapshot's deserialization)
 * stops counting in its RSS and PSS. A mapping with a private (copied-on-write) page is
 * left alone: dropping it would undo that write.
 *
 * @module
 */

import { libc, libcAvailable } from "./libc.ts";
import { readFileBytes } from "./proc_fs.ts";

/** `madvise()` advice: drop the pages from the page tables. */
const MADV_DONTNEED = 4;

/** One mapping of the executable, from `/proc/self/smaps`. */
export interface ExecutableMapping {
  start: bigint;
  end: bigint;
  perms: string;
  rssKiB: number;
  privateKiB: number;
}

/** The mappings of `path` in the text of a `/proc/PID/smaps`. */
export function mappingsOf(smaps: string, path: string): ExecutableMapping[] {
  const out: ExecutableMapping[] = [];
  let cur: ExecutableMapping | null = null;
  for (const line of smaps.split("\n")) {
    const head = /^([0-9a-f]+)-([0-9a-f]+) (\S{4}) \S+ \S+ \d+(?:\s+(.*))?$/.exec(line);
    if (head) {
      cur = (head[4] ?? "") === path
        ? {
          start: BigInt(`0x${head[1]}`),
          end: BigInt(`0x${head[2]}`),
          perms: head[3],
          rssKiB: 0,
          privateKiB: 0,
        }
        : null;
      if (cur) out.push(cur);
      continue;
    }
    if (!cur) continue;
    const field = /^(Rss|Private_Dirty|Anonymous):\s+(\d+) kB/.exec(line);
    if (field?.[1] === "Rss") cur.rssKiB = Number(field[2]);
    else if (field) cur.privateKiB += Number(field[2]);
  }
  return out;
}

/** The mappings whose pages can be dropped: read-only, private, never written. */
export function droppable(mappings: ExecutableMapping[]): ExecutableMapping[] {
  return mappings.filter((m) =>
    m.perms[1] === "-" && m.perms[3] === "p" && m.privateKiB === 0 && m.rssKiB > 0
  );
}

/**
 * Drops the resident read-only pages of the Deno executable from this process's page
 * tables. Answers the KiB dropped (0 when FFI is not permitted or nothing could be read).
 */
export function dropStartUpPages(): number {
  if (!libcAvailable()) return 0;
  const bytes = readFileBytes("/proc/self/smaps");
  if (bytes === null) return 0;
  let exe: string;
  try {
    exe = Deno.execPath();
  } catch {
    return 0;
  }
  const c = libc();
  let dropped = 0;
  for (const m of droppable(mappingsOf(new TextDecoder().decode(bytes), exe))) {
    const ptr = Deno.UnsafePointer.create(m.start);
    if (ptr !== null && c.madvise(ptr, Number(m.end - m.start), MADV_DONTNEED) === 0) {
      dropped += m.rssKiB;
    }
  }
  return dropped;
}
