/**
 * ham: a High Availability Manager for Linux, after QNX's HAM. This is its client
 * library, the counterpart of QNX's libham: connect to a running HAM, attach processes
 * as entities, hang conditions on them (death, heartbeat missed, published state, ...)
 * and actions on the conditions (restart, execute, waitfor, signal, log, notify), with
 * action-fail lists for when an action fails. Handles are name-based, as in libham.
 *
 * Every call throws a {@linkcode HamError} whose `code` is the errno-style code the HAM
 * answered (`ENOENT`, `EEXIST`, `EINVAL`, ...) or EBADF when no HAM is running.
 *
 * The client recovery library (QNX's libha: connections and files that survive a server's
 * restart) is its own entry point, `ha.ts`.
 *
 * @example
 * ```ts
 * import { connect, GLOBAL_ENTITY } from "./mod.ts";
 *
 * // Keep a web server running; log every death of any entity.
 * export async function superviseWeb(stateDir: string): Promise<void> {
 *   await using ham = await connect({ stateDir });
 *   const web = await ham.attach("web", { argv: ["/usr/sbin/httpd", "-f"] });
 *   const death = await web.condition("death", "death", { flags: ["rearm"] });
 *   const restart = await death.restart("restart", { flags: ["rearm"], policy: { backoffMs: 100 } });
 *   await restart.failExecute("page", ["/usr/local/bin/page-oncall", "web"]);
 *   const anyDeath = await (await ham.entityHandle(GLOBAL_ENTITY)).condition("deaths", "death");
 *   await anyDeath.log("note", "an entity died");
 * }
 * ```
 *
 * @module
 */

// The connection and the handles.
export { connect, Ham } from "./lib/client/ham.ts";
export { Subscription } from "./lib/client/subscription.ts";
export type { SubscribeOptions } from "./lib/client/subscription.ts";
export { ActionHandle, ConditionHandle, EntityHandle, ItemHandle } from "./lib/client/handles.ts";
export type {
  ActionOptions,
  LogOptions,
  RestartOptions,
  StateConditionOptions,
} from "./lib/client/handles.ts";
export { HamClient } from "./lib/client/client.ts";
export type {
  ConnectOptions,
  ReconnectOptions,
  RequestOptions,
  SubscriptionHandle,
} from "./lib/client/client.ts";
export type {
  AttachOptions,
  AttachTarget,
  LogFields,
  SelfAttachOptions,
  StateSpec,
} from "./lib/core/requests.ts";
export { GLOBAL_ENTITY } from "./lib/core/names.ts";

// Errors.
export { ERROR_CODES, HamError } from "./lib/core/errors.ts";
export type { ErrorCode } from "./lib/core/errors.ts";

// The wire contract: events, requests and answers, pushes.
export { PROTOCOL_VERSION } from "./lib/core/protocol.ts";
export type {
  ActionFields,
  AttachResult,
  ControlCommand,
  ControlResult,
  EventsResult,
  FlagsInput,
  HamEvent,
  ListRow,
  Push,
  RaiseFields,
  Requests,
  Results,
  StateResult,
  VerboseCommand,
  WaitFor,
  WaitResult,
} from "./lib/core/protocol.ts";
export type { ActionKind, ConditionType } from "./lib/core/flags.ts";
export type {
  ActionParams,
  HeartbeatHealth,
  HeartbeatSpec,
  LastExit,
  RaiseMatch,
  RestartPolicy,
  StateMatch,
} from "./lib/core/model.ts";

// The status tree.
export type {
  ActionFailView,
  ActionView,
  ConditionView,
  EntityView,
  HamView,
  HeartbeatView,
  LastExitView,
  StatusView,
} from "./lib/core/status_view.ts";
