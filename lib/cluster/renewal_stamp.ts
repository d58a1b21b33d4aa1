/**
 * When a cluster node last renewed its lease, kept in `<state-dir>/cluster.renewed` for the
 * HAM that comes next on the state directory (its Guardian taking over, or a restart): when
 * etcd does not answer it, that HAM keeps the copies the lease covers until the fencing point
 * of that renewal, as the HAM before it would have, instead of ending them at once. Written
 * atomically, not durably (a reboot ends the copies anyway); times on the boot clock.
 *
 * @module
 */

import { bootTime } from "../os/boot_clock.ts";
import { writeFileAtomic } from "../store/durable.ts";

/** What the stamp holds. */
interface Stamp {
  lease: string;
  bootId: string;
  /** When the renewal was sent, in ms since boot. */
  sentAt: number;
}

/** `<state-dir>/cluster.renewed`. */
export function renewalStampFile(stateDir: string): string {
  return `${stateDir}/cluster.renewed`;
}

/** Writes the stamps of a node, one at a time, the latest last. */
export class RenewalStamps {
  #file: string;
  #writing: Promise<void> | null = null;
  #next: Stamp | null = null;

  constructor(stateDir: string) {
    this.#file = renewalStampFile(stateDir);
  }

  /**
   * Records that a renewal of `lease` sent at `sentAt` (a `performance.now()` instant)
   * succeeded (written in the background; a failure leaves the previous stamp, which is
   * older: the next HAM fences sooner). The boot clock is read first, then how long ago the
   * renewal was sent: a pause of this process between the two readings makes the stamp
   * older than the renewal, never younger (a younger one would let the next HAM keep the
   * copies past the fencing point).
   */
  record(lease: string, sentAt: number): void {
    const now = bootTime();
    if (now === null) return;
    const agoMs = performance.now() - sentAt;
    this.#next = { lease, bootId: now.bootId, sentAt: now.ms - Math.max(0, agoMs) };
    if (this.#writing !== null) return;
    this.#writing = (async () => {
      while (this.#next !== null) {
        const stamp = this.#next;
        this.#next = null;
        await writeFileAtomic(this.#file, JSON.stringify(stamp)).catch(() => {});
      }
    })().finally(() => this.#writing = null);
  }

  /** Resolves once what was recorded is written. */
  async flushed(): Promise<void> {
    while (this.#writing !== null) await this.#writing;
  }
}

/**
 * How long ago (ms, at least) the last recorded renewal of `lease` was sent, as a previous
 * HAM on `stateDir` recorded it; null when unknown (none, another lease, another boot).
 */
export async function renewalAge(stateDir: string, lease: string): Promise<number | null> {
  let stamp: Stamp;
  try {
    stamp = JSON.parse(await Deno.readTextFile(renewalStampFile(stateDir)));
  } catch {
    return null;
  }
  const now = bootTime();
  if (now === null || stamp?.lease !== lease || stamp.bootId !== now.bootId) return null;
  if (typeof stamp.sentAt !== "number" || stamp.sentAt > now.ms) return null;
  // Both readings are rounded down to 10 ms: the renewal may be up to 10 ms older.
  return now.ms - stamp.sentAt + 10;
}
