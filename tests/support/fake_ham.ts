/**
 * A tiny fake HAM for client tests: listens on `<tmp>/ham.sock`, answers `hello`, records
 * every request, and lets each test script the rest (answers, errors, pushes, raw bytes).
 *
 * Every request line goes through the HAM's own `decodeRequest` first: a request the real
 * HAM would refuse is answered with the error the real HAM would send, and closing the
 * fake then throws, so a client that drifts from the protocol fails its tests.
 *
 * @module
 */

import { PROTOCOL_VERSION, type Push, type Request } from "../../lib/core/protocol.ts";
import { decodeRequest } from "../../lib/core/request_decoder.ts";
import { toHamError } from "../../lib/core/errors.ts";

const encoder = new TextEncoder();

/** One accepted connection, as the fake sees it. */
export class FakeConn {
  readonly #conn: Deno.UnixConn;

  constructor(conn: Deno.UnixConn) {
    this.#conn = conn;
  }

  /** Writes raw text (no newline added), e.g. half a line. */
  async raw(text: string): Promise<void> {
    const bytes = encoder.encode(text);
    for (let off = 0; off < bytes.length;) off += await this.#conn.write(bytes.subarray(off));
  }

  /** Answers request `id` with `result`. */
  reply(id: unknown, result: unknown): Promise<void> {
    return this.raw(JSON.stringify({ id, ok: true, result }) + "\n");
  }

  /** Answers request `id` with an error. */
  fail(id: unknown, code: string, message: string): Promise<void> {
    return this.raw(JSON.stringify({ id, ok: false, error: { code, message } }) + "\n");
  }

  /** Pushes a line (anything, so tests can push what the contract does not allow). */
  push(value: Push | Record<string, unknown>): Promise<void> {
    return this.raw(JSON.stringify({ push: value }) + "\n");
  }

  /** Closes the connection. */
  close(): void {
    try {
      this.#conn.close();
    } catch { /* already closed */ }
  }
}

/** A request as received. */
export type FakeRequest = { id: number; op: string } & Record<string, unknown>;

/** How the fake answers: called for every request but `hello` that the HAM would accept. */
export type Responder = (
  req: FakeRequest,
  conn: FakeConn,
  decoded: Request,
) => void | Promise<void>;

/** Options of {@linkcode startFakeHam}. */
export interface FakeHamOptions {
  /** The protocol version the fake claims in hello. @default {PROTOCOL_VERSION} */
  version?: number;
  /** Do not fail on close because of requests the HAM would refuse (tests of bad input). */
  allowRefused?: boolean;
}

/** A running fake HAM; dispose of it to stop it and remove its directory. */
export interface FakeHam extends AsyncDisposable {
  /** The state directory holding `ham.sock`. */
  stateDir: string;
  /** Every request received, `hello` included, in order. */
  requests: FakeRequest[];
  /** The requests the HAM's decoder refused, with its error message. */
  refused: { line: string; error: string }[];
  /** Stops listening and closes every connection. */
  close(): Promise<void>;
}

/** Starts a fake HAM in a new temporary state directory. */
export async function startFakeHam(
  respond: Responder,
  opts: FakeHamOptions = {},
): Promise<FakeHam> {
  const stateDir = await Deno.makeTempDir({ prefix: "ham-fake-" });
  const listener = Deno.listen({ transport: "unix", path: `${stateDir}/ham.sock` });
  const requests: FakeRequest[] = [];
  const refused: { line: string; error: string }[] = [];
  const conns = new Set<FakeConn>();
  const loops: Promise<void>[] = [];

  const serve = async (raw: Deno.UnixConn) => {
    const conn = new FakeConn(raw);
    conns.add(conn);
    const decoder = new TextDecoder();
    let partial = "";
    try {
      for await (const chunk of raw.readable) {
        const lines = (partial + decoder.decode(chunk, { stream: true })).split("\n");
        partial = lines.pop()!;
        for (const line of lines) {
          const req = JSON.parse(line) as FakeRequest;
          requests.push(req);
          let decoded: Request;
          try {
            decoded = decodeRequest(line);
          } catch (err) {
            const e = toHamError(err, "EPROTO");
            refused.push({ line, error: `${e.code}: ${e.message}` });
            await conn.fail(req.id, e.code, e.message);
            continue;
          }
          if (req.op === "hello") {
            await conn.reply(req.id, {
              version: opts.version ?? PROTOCOL_VERSION,
              hamPid: 4242,
              guardianPid: null,
            });
          } else {
            await respond(req, conn, decoded);
          }
        }
      }
    } catch { /* closed by the test */ }
    conns.delete(conn);
  };

  const accepting = (async () => {
    try {
      for await (const raw of listener) loops.push(serve(raw as Deno.UnixConn));
    } catch { /* listener closed */ }
  })();

  let closed = false;
  const close = async () => {
    if (closed) return;
    closed = true;
    listener.close();
    for (const c of conns) c.close();
    await accepting;
    await Promise.all(loops);
    await Deno.remove(stateDir, { recursive: true });
    if (refused.length > 0 && !opts.allowRefused) {
      throw new Error(
        `The fake HAM got requests the HAM would refuse:\n${
          refused.map((r) => `  ${r.error}: ${r.line}`).join("\n")
        }`,
      );
    }
  };
  return { stateDir, requests, refused, close, [Symbol.asyncDispose]: close };
}
