/**
 * What every example shares about telling its story: a {@linkcode Timeline} that stamps
 * each line with the milliseconds since the scenario began, {@linkcode within} to wait
 * for something with a deadline (never `sleep(n)` and hope), and {@linkcode runScenario},
 * which runs an example's body and turns its outcome into the exit code: 0 when the
 * scenario behaved, 1 when it did not.
 *
 * Not an example itself: the examples import it.
 *
 * @module
 */

/** A scenario that did not behave: what was expected, and what happened instead. */
export class ScenarioError extends Error {
  /** Creates the error. */
  constructor(message: string) {
    super(message);
    this.name = "ScenarioError";
  }
}

/** The printed timeline of a scenario. */
export class Timeline {
  /** When the scenario began, in ms since the epoch. */
  readonly t0: number;

  /** Starts a timeline at `t0`. @default {now} */
  constructor(t0: number = Date.now()) {
    this.t0 = t0;
  }

  /** Milliseconds from the start to `at` (ms since the epoch, as in a HAM event). */
  rel(at: number = Date.now()): number {
    return Math.round(at - this.t0); // HAM events are stamped to the µs.
  }

  /** Prints `text` stamped with the time `at`. @default {now} */
  mark(text: string, at: number = Date.now()): void {
    console.log(`${`+${this.rel(at)}`.padStart(7)} ms  ${text}`);
  }

  /** Prints a block of text (such as `hamctl status`) indented under the timeline. */
  block(text: string): void {
    for (const line of text.trimEnd().split("\n")) {
      console.log(`            |${line && ` ${line}`}`);
    }
  }

  /** Prints `what` as checked, or throws a {@linkcode ScenarioError} when `ok` is false. */
  check(ok: boolean, what: string): void {
    if (!ok) throw new ScenarioError(`Expected ${what}`);
    this.mark(`ok: ${what}`);
  }
}

/** Resolves like `promise`, or throws a {@linkcode ScenarioError} naming `what` after `ms`. */
export async function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new ScenarioError(`Timed out after ${ms} ms waiting for ${what}`)),
      ms,
    );
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Runs an example's body with a fresh timeline, then exits: 0 when it returned, 1 when
 * it threw (after printing why). The body cleans up after itself (`await using`) before
 * its error reaches here.
 */
export async function runScenario(
  title: string,
  body: (timeline: Timeline) => Promise<void>,
): Promise<never> {
  const timeline = new Timeline();
  console.log(`== ${title}`);
  try {
    await body(timeline);
  } catch (err) {
    const why = err instanceof Error ? `${err.name}: ${err.message}` : String(err);
    timeline.mark(`FAILED: ${why}`);
    Deno.exit(1);
  }
  timeline.mark(`done: ${title}`);
  Deno.exit(0);
}
