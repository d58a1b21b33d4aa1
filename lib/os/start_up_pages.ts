/**
 * Lets go of the pages of the Deno executable that a long-lived daemon touched while it
 * started and will not touch again: its code and its read-only data (the start-up
 * snapshot, constants) are dropped from this process's page tables with
 * `madvise(MADV_DONTNEED)`. They are clean and file-backed: they stay in the page cache,
 * the code still running faults its pages back in at once (a minor fault each), and what
 * the daemon never runs again (start-up, module loading, the snapshot's deserialization)
 * stops counting in its RSS and PSS.
 *
 * Only mappings that were never written are dropped (dropping a page copied on write
 * would undo the write): the executable's code (`r-xp`; ham's Deno has no text
 * relocations) and its first read-only segment (`r--p` at file offset 0: headers,
 * constants, the snapshot), never its data segment, whose read-only part (RELRO) was
 * written by the dynamic loader. The mappings are read from `/proc/self/maps`, a few tens
 * of KiB (`smaps` would be ~250 KiB of text whose garbage grows a heap that keeps its
 * pages).
 *
 * @module
 */

import { DEFAULTS } from "../core/defaults.ts";
import { libc, libcAvailable } from "./libc.ts";
import type { Logger } from "./logger.ts";
import { readFileBytes } from "./proc_fs.ts";

/** `madvise()` advice: drop the pages from the page tables. */
const MADV_DONTNEED = 4;

/** One mapping of the executable, from `/proc/self/maps`. */
export interface ExecutableMapping {
  start: bigint;
  end: bigint;
  perms: string;
  offset: number;
}

/** The mappings of `path` in the text of a `/proc/PID/maps`. */
export function mappingsOf(maps: string, path: string): ExecutableMapping[] {
  const out: ExecutableMapping[] = [];
  for (const line of maps.split("\n")) {
    const m = /^([0-9a-f]+)-([0-9a-f]+) (\S{4}) ([0-9a-f]+) \S+ \d+(?:\s+(.*))?$/.exec(line);
    if (!m || !m[5] || m[5] !== path) continue;
    out.push({
      start: BigInt(`0x${m[1]}`),
      end: BigInt(`0x${m[2]}`),
      perms: m[3],
      offset: parseInt(m[4], 16),
    });
  }
  return out;
}

/** The mappings whose pages can be dropped: the code, and the first read-only segment. */
export function droppable(mappings: ExecutableMapping[]): ExecutableMapping[] {
  return mappings.filter((m) => m.perms === "r-xp" || (m.perms === "r--p" && m.offset === 0));
}

/** The text of a small file under `/proc`, read with libc; null when it cannot be read. */
function readText(path: string): string | null {
  const bytes = readFileBytes(path);
  return bytes === null ? null : new TextDecoder().decode(bytes);
}

/** This process's resident KiB (`Rss` of `/proc/self/smaps_rollup`), or null. */
function rssKiB(): number | null {
  const text = readText("/proc/self/smaps_rollup");
  const m = text === null ? null : /^Rss:\s+(\d+) kB/m.exec(text);
  return m ? Number(m[1]) : null;
}

/**
 * Drops the resident code and read-only data of the Deno executable from this process's
 * page tables. Answers the KiB by which this process's RSS fell (0 when FFI is not
 * permitted or the mappings could not be read).
 */
export function dropStartUpPages(): number {
  if (!libcAvailable()) return 0;
  let exe: string;
  try {
    exe = Deno.execPath();
  } catch {
    return 0;
  }
  const c = libc();
  const maps = readText("/proc/self/maps");
  if (maps === null) return 0;
  const before = rssKiB();
  for (const m of droppable(mappingsOf(maps, exe))) {
    const ptr = Deno.UnsafePointer.create(m.start);
    if (ptr !== null) c.madvise(ptr, Number(m.end - m.start), MADV_DONTNEED);
  }
  const after = rssKiB();
  return before === null || after === null ? 0 : Math.max(0, before - after);
}

/**
 * Drops the start-up pages {@linkcode DEFAULTS.startUpPagesDropMs} from now, and logs what
 * it let go of as `who` (`HAM`, `Guardian`). Answers the cancel (for a stop before then).
 */
export function dropStartUpPagesLater(
  log: Pick<Logger, "log">,
  who: string,
): () => void {
  const timer = setTimeout(() => {
    log.log("debug", `${who} ${Deno.pid}: dropped ${dropStartUpPages()} KiB of start-up pages`);
  }, DEFAULTS.startUpPagesDropMs);
  return () => clearTimeout(timer);
}
