/**
 * The Guardian: a standby copy of the HAM, started by it (QNX §6). It keeps a live copy of
 * the HAM's state by following the journal ({@linkcode JournalTail}), watches the HAM
 * ({@linkcode HamWatch}), and when the HAM is gone without having said it was stopping it
 * takes over, in the same process: it becomes the HAM through `HamDaemon.start`, which
 * replays the state directory through the one replay path, journals the HAM failure,
 * re-watches every entity by pid and start time (no monitored process is restarted or
 * signalled because of the takeover; one that died meanwhile is handled exactly once;
 * interrupted action lists resume), listens on the same socket, and starts a new Guardian.
 *
 * Signals: SIGTERM makes a Guardian exit 0 (its HAM starts a new one unless it is
 * stopping); SIGINT ends it, as it ends its HAM in a terminal.
 *
 * @module
 */

import { HamDaemon, type HamOptions } from "../lib/daemon/daemon.ts";
import { JournalTail } from "../lib/store/journal_tail.ts";
import type { Logger } from "../lib/os/logger.ts";
import { type HamGone, HamWatch } from "./ham_watch.ts";
import { OutputMirror } from "./output_mirror.ts";
import { PidfdMirror } from "./pidfd_mirror.ts";
import { raiseDescriptorLimit } from "../lib/os/fd_reserve.ts";
import { DEFAULTS } from "../lib/core/defaults.ts";
import { daemonQuietTrim, type QuietTrim } from "../lib/os/quiet_trim.ts";
import { dropStartUpPagesLater } from "../lib/os/start_up_pages.ts";
import { FdBudget } from "./fd_budget.ts";
import { StatusAnswer } from "../lib/core/status_answer.ts";

/** Options of {@linkcode Guardian.start}. */
export interface GuardianOptions {
  /** The state directory of the HAM to guard. */
  stateDir: string;
  /** The HAM's pid (`--ham-pid`), or null when not known. */
  hamPid: number | null;
  /** Where the Guardian's log lines go until it takes over. */
  log: Logger;
}

/** What the HAM this Guardian becomes is started with (the rest comes from the Guardian). */
export type TakeoverOptions = Omit<HamOptions, "stateDir" | "lock" | "takeover">;

/** A Guardian, watching its HAM. */
export class Guardian {
  /** The live copy of the HAM's state. */
  readonly tail: JournalTail;
  readonly #opts: GuardianOptions;
  readonly #watch: HamWatch;
  readonly #pidfds: PidfdMirror;
  readonly #pipes: OutputMirror;
  readonly #answers: StatusWarmer;
  /** Cancels the drop of the start-up pages (a takeover before it is due). */
  #cancelDropPages: () => void = () => {};
  /** Gives memory back once the mirrored changes stop for a while (null: it cannot). */
  readonly #trim: QuietTrim | null;

  private constructor(
    opts: GuardianOptions,
    tail: JournalTail,
    watch: HamWatch,
    pidfds: PidfdMirror,
    pipes: OutputMirror,
    answers: StatusWarmer,
    trim: QuietTrim | null,
  ) {
    this.#opts = opts;
    this.tail = tail;
    this.#watch = watch;
    this.#pidfds = pidfds;
    this.#pipes = pipes;
    this.#answers = answers;
    this.#trim = trim;
  }

  /** How many monitored processes it holds a verified pidfd on, ready for a takeover. */
  get pidfds(): number {
    return this.#pidfds.size;
  }

  /** How many spawned entities' output FIFOs it holds open, ready for a takeover. */
  get pipes(): number {
    return this.#pipes.size;
  }

  /** True when the full status answer of the live copy is held joined (see `StatusWarmer`). */
  get answerJoined(): boolean {
    return this.#answers.answer.prepared(this.tail.state);
  }

  /**
   * Loads the live copy (read-only), follows the journal, and starts watching the HAM.
   *
   * @throws {HamError} EIO when the journal cannot be read.
   */
  static async start(opts: GuardianOptions): Promise<Guardian> {
    const { log } = opts;
    // It holds up to three descriptors per monitored process, as the HAM does, within a
    // share of the limit (the rest is for following the journal, and for serving).
    const limit = raiseDescriptorLimit();
    const budget = new FdBudget(
      limit === null ? Infinity : Math.floor(Number(limit.soft) * DEFAULTS.guardianStandbyFdShare),
    );
    const tail = JournalTail.open(opts.stateDir, { log: (level, msg) => log.log(level, msg) });
    const pidfds = new PidfdMirror(budget);
    const pipes = new OutputMirror(opts.stateDir, budget);
    const answers = new StatusWarmer(
      tail,
      (n) => log.log("debug", `Guardian: full status answer rendered for ${n} entities`),
      (ms) =>
        log.log(
          "debug",
          `Guardian: full status answer joined at seq ${tail.seq} in ${ms.toFixed(1)} ms`,
        ),
    );
    const trim = daemonQuietTrim(log, "Guardian");
    const sync = () => {
      trim?.touch();
      const touched = tail.drainTouched();
      pidfds.sync(tail.state, touched);
      pipes.sync(tail.state, touched);
      answers.sync(touched);
    };
    sync();
    tail.follow({
      onApplied: (n) => {
        sync();
        log.log("debug", `Guardian: applied ${n} records, at seq ${tail.seq}`);
      },
    });
    let watch: HamWatch;
    try {
      watch = await HamWatch.start(opts);
    } catch (err) {
      tail.close();
      pidfds.close();
      pipes.close();
      trim?.stop();
      throw err;
    }
    const g = new Guardian(opts, tail, watch, pidfds, pipes, answers, trim);
    g.#cancelDropPages = dropStartUpPagesLater(log, "Guardian");
    return g;
  }

  /**
   * Resolves once the HAM is gone and this process holds the state directory's lock. The
   * live copy stops following then, where it was: the takeover logs how far behind it was.
   */
  async hamGone(): Promise<HamGone> {
    const gone = await this.#watch.gone;
    this.#cancelDropPages();
    this.#trim?.stop();
    this.#answers.stop();
    this.tail.close();
    await this.#watch.close();
    return gone;
  }

  /**
   * Becomes the HAM: starts a {@linkcode HamDaemon} on the lock already held from the live
   * copy, caught up to the end of the journal (or, when the files need it — a torn record
   * to cut —, from a replay of the files), with the pidfds and output FIFOs opened while
   * mirroring; it journals the HAM failure, resumes, serves and starts a new Guardian.
   */
  takeOver(gone: HamGone, opts: TakeoverOptions): Promise<HamDaemon> {
    const replay = this.tail.handOver();
    // What the catch-up applied is rendered again when first asked.
    this.#answers.sync(this.tail.drainTouched());
    return HamDaemon.start({
      ...opts,
      stateDir: this.#opts.stateDir,
      lock: gone.lock,
      takeover: {
        deadHamPid: this.#opts.hamPid,
        noticedAt: gone.noticedAt,
        noticedBy: gone.noticedBy,
        liveSeq: this.tail.seq,
        lockedAt: gone.lockedAt,
        replay,
        pidfds: this.#pidfds.take(),
        pipes: this.#pipes.take(),
        statusAnswer: this.#answers.answer,
      },
    });
  }
}

/**
 * The full status answer kept rendered for the live copy: the entities each batch of
 * mirrored records touched are rendered again at once (a batch renders each entity once),
 * so the first full status after a takeover is a copy, however soon after a change the HAM
 * died. Once the mirrored changes pause ({@linkcode DEFAULTS.guardianAnswerPrepareMs}, or
 * ten times the last join if longer), the entities' part of the answer is joined too
 * (`StatusAnswer.prepare`): at 10,000 entities the first answer after a takeover then skips
 * a walk and a join (~40 ms, in code the new HAM had never run).
 */
class StatusWarmer {
  readonly answer = new StatusAnswer();
  readonly #tail: JournalTail;
  readonly #rendered: (entities: number) => void;
  readonly #joined: (ms: number) => void;
  #timer: ReturnType<typeof setTimeout> | undefined;
  /** How long the last join took, ms (0 after the first, which runs cold). */
  #lastMs = 0;
  #cold = true;

  constructor(
    tail: JournalTail,
    rendered: (entities: number) => void,
    joined: (ms: number) => void,
  ) {
    this.#tail = tail;
    this.#rendered = rendered;
    this.#joined = joined;
  }

  /** Renders again what a batch touched (null: anything). */
  sync(touched: ReadonlySet<string> | null): void {
    if (touched === null) this.answer.touchAll();
    else if (touched.size === 0) return;
    else this.answer.touch(touched);
    const n = this.answer.warm(this.#tail.state, touched ?? undefined);
    if (n > 0) this.#rendered(n);
    clearTimeout(this.#timer);
    // At least ten times as long as the last join took: under constant changes at 10,000
    // entities (a join ~3 ms) the Guardian spends at most a tenth of a core on it.
    const delay = Math.max(DEFAULTS.guardianAnswerPrepareMs, this.#lastMs * 10);
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      const t0 = performance.now();
      this.answer.prepare(this.#tail.state);
      const ms = performance.now() - t0;
      // The first join runs cold (~10 times slower): it would hold off the next for seconds.
      this.#lastMs = this.#cold ? 0 : ms;
      this.#cold = false;
      this.#joined(ms);
    }, delay);
  }

  /** Cancels a pending join (the live copy stops: a takeover, or the end). */
  stop(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }
}
