/**
 * The Guardian's hot standby of output FIFOs: as it mirrors the journal, it holds open
 * (read-write, non-blocking, never reading) the two FIFOs of every entity whose process a
 * HAM spawned, so that a takeover hands them to the new HAM's reader
 * (`EntityOutput.adopt`) without opening a file per entity. Holding them changes nothing
 * for the HAM that reads them meanwhile.
 *
 * An entity removed and attached again under the same name gets new FIFOs: a descriptor
 * of a touched entity whose FIFO was unlinked (`/proc/self/fd/N` reads "... (deleted)")
 * is opened again.
 *
 * @module
 */

import type { HamState } from "../lib/core/model.ts";
import { statusFileName } from "../lib/core/status_text.ts";
import { openPipes, outputPipes } from "../lib/os/entity_output.ts";
import { type Libc, libc, libcAvailable } from "../lib/os/libc.ts";
import { readLinkText } from "../lib/os/proc_fs.ts";
import { FdBudget } from "./fd_budget.ts";

/** An entity's two FIFOs, held open. */
export interface MirroredPipes {
  entity: string;
  stdout: number;
  stderr: number;
}

/** The FIFOs of the spawned entities of a mirrored state, kept in step with it. */
export class OutputMirror {
  #lib: Libc | null;
  #stateDir: string;
  #budget: FdBudget;
  #byEntity = new Map<string, MirroredPipes>();

  /**
   * A mirror of `<stateDir>/pipes`, holding at most what `budget` allows; it holds nothing
   * where libc cannot be called.
   */
  constructor(stateDir: string, budget: FdBudget = new FdBudget(Infinity)) {
    this.#stateDir = stateDir;
    this.#lib = libcAvailable() ? libc() : null;
    this.#budget = budget;
  }

  /** How many entities' FIFOs it holds. */
  get size(): number {
    return this.#byEntity.size;
  }

  /**
   * Brings the FIFOs of `names` (every entity when null) in step with `state`: held for
   * each entity spawned by a HAM (the only processes that write into them), opened when
   * missing or unlinked since, closed for entities gone or no longer spawned.
   */
  sync(state: HamState, names: Iterable<string> | null): void {
    if (this.#lib === null) return;
    if (names === null) {
      for (const name of [...this.#byEntity.keys()]) {
        if (!state.entities.has(name)) this.#close(name);
      }
    }
    for (const name of names ?? state.entities.keys()) {
      const e = state.entities.get(name);
      const have = this.#byEntity.get(name);
      if (!e?.spawned || e.argv === null) {
        if (have) this.#close(name);
        continue;
      }
      if (have && !this.#unlinked(have)) continue;
      if (have) this.#close(name);
      if (!this.#budget.take(2)) continue; // Opened at the takeover instead.
      const fds = openPipes(this.#lib, outputPipes(this.#stateDir, statusFileName(name)));
      if (fds !== null) this.#byEntity.set(name, { entity: name, ...fds });
      else this.#budget.give(2);
    }
  }

  /** Hands over every pair (the caller owns them from now on) and empties the mirror. */
  take(): MirroredPipes[] {
    const all = [...this.#byEntity.values()];
    this.#budget.give(2 * all.length);
    this.#byEntity.clear();
    return all;
  }

  /** Closes every descriptor. */
  close(): void {
    for (const name of [...this.#byEntity.keys()]) this.#close(name);
  }

  #unlinked(p: MirroredPipes): boolean {
    return [p.stdout, p.stderr].some((fd) =>
      readLinkText(`/proc/self/fd/${fd}`)?.endsWith(" (deleted)") ?? true
    );
  }

  #close(name: string): void {
    const have = this.#byEntity.get(name);
    if (have === undefined) return;
    this.#byEntity.delete(name);
    this.#lib!.close(have.stdout);
    this.#lib!.close(have.stderr);
    this.#budget.give(2);
  }
}
