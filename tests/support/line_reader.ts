/**
 * Reads a child process's output a line at a time, with deadlines: for tests that follow
 * a long-running `hamctl` (such as `events --follow`).
 *
 * @module
 */

import { deadline } from "./ham_process.ts";

/** The lines of a stream, read on demand. */
export class LineReader {
  #reader: ReadableStreamDefaultReader<string>;
  #buffer = "";
  #done = false;
  /** Every line read so far. */
  readonly seen: string[] = [];

  /** Reads `stream` (a child's stdout or stderr). */
  constructor(stream: ReadableStream<Uint8Array<ArrayBuffer>>) {
    this.#reader = stream.pipeThrough(new TextDecoderStream()).getReader();
  }

  /** The next line, or null at the end of the stream; fails after `ms`. */
  next(ms = 10_000, what = "a line"): Promise<string | null> {
    return deadline(this.#next(), ms, `${what} (lines so far: ${JSON.stringify(this.seen)})`);
  }

  async #next(): Promise<string | null> {
    for (;;) {
      const nl = this.#buffer.indexOf("\n");
      if (nl >= 0) {
        const line = this.#buffer.slice(0, nl);
        this.#buffer = this.#buffer.slice(nl + 1);
        this.seen.push(line);
        return line;
      }
      if (this.#done) return null;
      const r = await this.#reader.read();
      if (r.done) this.#done = true;
      else this.#buffer += r.value;
    }
  }

  /** Reads lines until one satisfies `pred`; fails at the end of the stream or after `ms`. */
  async until(pred: (line: string) => boolean, what: string, ms = 10_000): Promise<string> {
    const end = Date.now() + ms;
    for (;;) {
      const line = await this.next(Math.max(1, end - Date.now()), what);
      if (line === null) throw new Error(`The stream ended before ${what}: ${this.seen}`);
      if (pred(line)) return line;
    }
  }

  /** The rest of the stream. */
  async rest(ms = 10_000): Promise<string[]> {
    const out: string[] = [];
    for (let l = await this.next(ms); l !== null; l = await this.next(ms)) out.push(l);
    return out;
  }

  /** Stops reading. */
  async cancel(): Promise<void> {
    await this.#reader.cancel().catch(() => {});
  }
}
