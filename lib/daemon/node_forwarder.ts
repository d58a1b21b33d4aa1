/**
 * Cross-node notify and signal (`ham_action_notify_pulse_node`,
 * `ham_action_notify_signal_node`): {@linkcode nodeForwarder} is the engine's `forward`
 * effect. It dials the HAM of the node named by the action (the nodes file: `ham --nodes
 * FILE`, else `$HAM_NODES`, else `<state-dir>/nodes.yaml`) over mutual TLS, as
 * `hamctl --node` does, and sends the request: `notify` (delivered to that HAM's
 * subscribers of the channel; the `report` role there) or `kill` (the entity's process
 * there, through its pidfd; the `admin` role). Each delivery has its own connection, so an
 * edited nodes file or a restarted node needs nothing more.
 *
 * @module
 */

import { HamClient } from "../client/client.ts";
import { DEFAULTS } from "../core/defaults.ts";
import type { Forward } from "../engine/action_runner.ts";

/** Options of {@linkcode nodeForwarder}. */
export interface ForwarderOptions {
  /** This HAM's state directory (where the default nodes file is). */
  stateDir: string;
  /** The nodes file. @default {$HAM_NODES, else `<state-dir>/nodes.yaml`} */
  nodes?: string;
  /** Time for the connection, the handshake and the answer, in ms. @default {DEFAULTS.nodeForwardTimeoutMs} */
  timeoutMs?: number;
}

/** The engine's `forward` effect, over mutual TLS to the node's HAM. */
export function nodeForwarder(opts: ForwarderOptions): Forward {
  const timeoutMs = opts.timeoutMs ?? DEFAULTS.nodeForwardTimeoutMs;
  return async (node, request) => {
    await using client = await HamClient.connect({
      stateDir: opts.stateDir,
      node,
      nodes: opts.nodes,
      client: "ham",
      timeoutMs,
    });
    const { op, ...fields } = request;
    if (op === "notify") await client.request(op, fields as Omit<typeof request, "op">);
    else await client.request(op, fields as Omit<typeof request, "op">);
  };
}
