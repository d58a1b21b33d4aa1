/**
 * Dials the HAM of another node over mutual TLS (`Deno.connectTls` checks the server's
 * certificate against the node's CA and presents our client certificate), turning each
 * way it can fail into its own code: EHOSTUNREACH (nothing answers), EKEYREJECTED (the
 * server's certificate is not signed by the CA or not for that address). A refusal of our
 * credentials comes from the server, as the answer to `hello` (EACCES, EKEYREJECTED).
 *
 * @module
 */

import { DEFAULTS } from "../core/defaults.ts";
import { HamError } from "../core/errors.ts";
import { resolveStateDir } from "../os/state_dir.ts";
import { defaultNodesFile, findNode, type NodeEntry } from "./nodes_file.ts";

const HANDSHAKE_MS = DEFAULTS.nodeConnectTimeoutMs;

/** What the client needs of a connection to a HAM: a byte stream it can close. */
export type ByteConn = Pick<Deno.Conn, "read" | "write" | "close">;

/** Opens the byte stream to a HAM; throws HamError (EBADF, EHOSTUNREACH, EKEYREJECTED). */
export type Dialer = () => Promise<ByteConn>;

/** Connects to a node's HAM with the PEM texts of its entry (classifying failures). */
export type NodeDial = (
  entry: NodeEntry,
  pems: { ca: string; cert: string; key: string },
) => Promise<ByteConn>;

/**
 * Resolves `node` in the nodes file (`opts.nodes`, else the default of `opts.stateDir`);
 * the dialer it returns connects with `dial` (default {@linkcode dialNode}).
 */
export async function remoteDialer(
  node: string,
  opts: { stateDir?: string; nodes?: string },
  dial: NodeDial = dialNode,
): Promise<{ address: string; dial: Dialer }> {
  const file = opts.nodes ?? defaultNodesFile(resolveStateDir(opts.stateDir));
  const entry = await findNode(file, node);
  const pem = (what: string, path: string) => {
    try {
      return Deno.readTextFileSync(path);
    } catch (err) {
      throw new HamError("ENOENT", `Cannot read the ${what} of node "${node}": ${err}`);
    }
  };
  const tls = {
    ca: pem("CA", entry.ca),
    cert: pem("certificate", entry.cert),
    key: pem("key", entry.key),
  };
  return { address: `node "${node}" (${entry.address})`, dial: () => dial(entry, tls) };
}

/**
 * Connects and completes the TLS handshake within `timeoutMs`, classifying failures:
 * EINVAL (a bad address, our own certificate or key unusable), EKEYREJECTED (the node's
 * certificate is not trusted), EHOSTUNREACH (anything else, and no answer in time). A
 * connection that completes after the time is over is closed. (Deno closes a TLS
 * connection only once its handshake is over: a peer that never answers it keeps the
 * descriptor until it closes.)
 */
export async function dialNode(
  entry: NodeEntry,
  pems: { ca: string; cert: string; key: string },
  timeoutMs: number = HANDSHAKE_MS,
): Promise<Deno.Conn> {
  const m = /^(?:\[([^\]]+)\]|([^:]+)):(\d{1,5})$/.exec(entry.address);
  const port = m ? Number(m[3]) : NaN;
  if (!m || port < 1 || port > 65535) {
    throw new HamError("EINVAL", `Invalid address "${entry.address}" of node "${entry.name}"`);
  }
  const where = `node "${entry.name}" at ${entry.address}`;
  let conn: Deno.TlsConn | null = null;
  let gaveUp = false;
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        gaveUp = true;
        reject(new HamError("EHOSTUNREACH", `Cannot reach ${where}: no answer in ${timeoutMs} ms`));
      }, timeoutMs);
    });
    const open = (async () => {
      const connected = await Deno.connectTls({
        hostname: m[1] ?? m[2],
        port,
        caCerts: [pems.ca],
        cert: pems.cert,
        key: pems.key,
      });
      // Connected after the time was over (a SYN the kernel sent again): not wanted.
      if (gaveUp) {
        connected.close();
        throw new HamError("EHOSTUNREACH", `Cannot reach ${where}: connected too late`);
      }
      conn = connected;
      await conn.handshake();
      return conn;
    })();
    return await Promise.race([open, timeout]);
  } catch (err) {
    try {
      (conn as Deno.TlsConn | null)?.close();
    } catch { /* not open */ }
    if (err instanceof HamError) throw err;
    const message = err instanceof Error ? err.message : String(err);
    // Our own PEM texts that rustls cannot use ("No keys found in key data", "KeyMismatch").
    if (/No (keys|certificates) found|KeyMismatch|private key|PEM/i.test(message)) {
      throw new HamError("EINVAL", `Cannot use our credential for ${where}: ${message}`, {
        cause: err,
      });
    }
    if (/certificate|UnknownIssuer|NotValidForName|BadSignature|Expired/i.test(message)) {
      throw new HamError("EKEYREJECTED", `Cannot trust ${where}: ${message}`, { cause: err });
    }
    throw new HamError("EHOSTUNREACH", `Cannot reach ${where}: ${message}`, { cause: err });
  } finally {
    clearTimeout(timer);
  }
}
