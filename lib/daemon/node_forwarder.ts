/**
 * Cross-node notify and signal (`ham_action_notify_pulse_node`,
 * `ham_action_notify_signal_node`): {@linkcode nodeForwarder} is the engine's `forward`
 * effect. It dials the HAM of the node named by the action over mutual TLS, as
 * `hamctl --node` does, and sends one request: `notify` (delivered to that HAM's
 * subscribers of the channel; the `report` role there) or `kill` (the entity's process
 * there, through its pidfd; the `admin` role). Each delivery has its own connection, so an
 * edited nodes file or a restarted node needs nothing more.
 *
 * A dial the node refuses or loses before its HAM answers `hello` (that HAM restarting, or
 * its Guardian taking over) is made again, with a growing delay, within the deadline;
 * once the request is sent it is never sent again.
 *
 * The node's name is looked up in the nodes file (`ham --nodes FILE`, else `$HAM_NODES`,
 * else `<state-dir>/nodes.yaml`); when it is not there and this HAM is in a cluster, in the
 * cluster's registry, where a member started with `--listen` publishes its address: this
 * HAM then dials it with its own `--tls-ca`, `--tls-cert` and `--tls-key` (the members of a
 * cluster share a CA, and each one's certificate is also its client certificate). It dials
 * with `node:tls` (`node_tls_dialer.ts`), Nagle's algorithm off.
 *
 * @module
 */

import { HamClient } from "../client/client.ts";
import { type Dialer, remoteDialer } from "../client/node_dialer.ts";
import { dialNodeTls } from "./node_tls_dialer.ts";
import { DEFAULTS } from "../core/defaults.ts";
import { HamError } from "../core/errors.ts";
import type { Forward } from "../engine/action_runner.ts";

/** The first wait before dialling a node again, ms (doubling up to the next). */
const FORWARD_REDIAL_MS = DEFAULTS.nodeRedialMs;
/** The longest wait between two dials of a node, ms. */
const FORWARD_REDIAL_MAX_MS = DEFAULTS.nodeRedialMaxMs;

/** Options of {@linkcode nodeForwarder}. */
export interface ForwarderOptions {
  /** This HAM's state directory (where the default nodes file is). */
  stateDir: string;
  /** The nodes file. @default {$HAM_NODES, else `<state-dir>/nodes.yaml`} */
  nodes?: string;
  /** Time for the connection, the handshake and the answer, in ms. @default {DEFAULTS.nodeForwardTimeoutMs} */
  timeoutMs?: number;
  /** The address a member of this HAM's cluster published, or null (not clustered: always). */
  registry?: (node: string) => string | null;
  /** This HAM's own TLS material (`--listen`), for members found in the registry. */
  tls?: { ca: string; cert: string; key: string };
}

/** The engine's `forward` effect, over mutual TLS to the node's HAM. */
export function nodeForwarder(opts: ForwarderOptions): Forward {
  const timeoutMs = opts.timeoutMs ?? DEFAULTS.nodeForwardTimeoutMs;
  const fields = { stateDir: opts.stateDir, client: "ham", timeoutMs };
  const resolve = async (node: string): Promise<{ address: string; dial: Dialer }> => {
    try {
      return await remoteDialer(node, { stateDir: opts.stateDir, nodes: opts.nodes }, dialNodeTls);
    } catch (err) {
      // Not in the nodes file (or no such file): a member of the cluster, maybe.
      const address = opts.registry?.(node) ?? null;
      if (!(err instanceof HamError && err.code === "ENOENT") || address === null || !opts.tls) {
        throw err;
      }
      const entry = { name: node, address, ca: "", cert: "", key: "" };
      const tls = opts.tls;
      return {
        address: `node "${node}" (${address}, from the cluster)`,
        dial: () => dialNodeTls(entry, tls),
      };
    }
  };
  return async (node, request) => {
    // One deadline for the connection, the handshake, `hello` and the answer: a node that
    // does not answer within it is unreachable, whichever step it stalls in.
    const started = performance.now();
    const left = () => Math.max(1, Math.ceil(timeoutMs - (performance.now() - started)));
    let client: HamClient | null = null;
    let late = false;
    const work = (async () => {
      const remote = await resolve(node);
      // Nothing is sent before the node's HAM answers `hello`: a dial it refused or lost
      // (that HAM restarting, its Guardian taking over) is made again while time is left.
      for (
        let delay: number = FORWARD_REDIAL_MS;;
        delay = Math.min(delay * 2, FORWARD_REDIAL_MAX_MS)
      ) {
        try {
          client = await HamClient.connectThrough(remote, { ...fields, timeoutMs: left() });
          break;
        } catch (err) {
          const unreachable = err instanceof HamError && err.code === "EHOSTUNREACH";
          if (late || !unreachable || left() <= delay) throw err;
          await new Promise((resolve) => setTimeout(resolve, delay));
        }
      }
      if (late) return;
      const { op, ...rest } = request;
      const ask = { timeoutMs: left() };
      if (op === "notify") await client.request(op, rest as Omit<typeof request, "op">, ask);
      else await client.request(op, rest as Omit<typeof request, "op">, ask);
    })();
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        late = true;
        reject(
          new HamError(
            "EHOSTUNREACH",
            `Cannot reach node "${node}": no answer in ${timeoutMs} ms`,
          ),
        );
      }, timeoutMs);
    });
    try {
      await Promise.race([work, timeout]);
    } catch (err) {
      if (err instanceof HamError && err.code === "ETIMEDOUT") {
        throw new HamError("EHOSTUNREACH", `Cannot reach node "${node}": ${err.message}`, {
          cause: err,
        });
      }
      throw err;
    } finally {
      clearTimeout(timer);
      // What is still under way ends within the deadline (each step's own timeout).
      void work.catch(() => {}).finally(() => (client as HamClient | null)?.close());
    }
  };
}
