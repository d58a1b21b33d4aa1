/**
 * What `hamctl help SUBCOMMAND` says beyond the usage line: a one-line summary and an
 * example for every subcommand, and the "did you mean" of a mistyped one. The man pages
 * (`man/hamctl.8`, `man/ham.8`, written by `cli/man_pages.ts`) are made from the same text.
 *
 * @module
 */

import { DEFAULTS } from "../../lib/core/defaults.ts";
import { formatDuration } from "../../lib/core/duration.ts";

/** A default time limit as the help shows it (`10s`). */
const limit = (ms: number) => formatDuration(ms);

/** The summary and the example of a subcommand. */
export interface HelpText {
  summary: string;
  example: string;
}

/** Every subcommand's summary and example. */
export const HELP: Readonly<Record<string, HelpText>> = {
  attach: {
    summary: "Start a command (or watch a running pid) as an entity; --wait until it runs " +
      `(--timeout: ${limit(DEFAULTS.attachWaitMs)} by default), failing if it ends as it starts.`,
    example: "hamctl attach web --wait -- /usr/bin/web --port 8080",
  },
  entity: {
    summary: "Create a placeholder entity: conditions and actions can be added before it runs.",
    example: "hamctl entity db",
  },
  detach: {
    summary: "Stop monitoring an entity (its process keeps running) and remove it.",
    example: "hamctl detach web",
  },
  heartbeat: { summary: "Send a heartbeat for an entity.", example: "hamctl heartbeat worker" },
  state: {
    summary: "Publish an entity's new state (fires state conditions).",
    example: "hamctl state web 2",
  },
  raise: {
    summary: "Raise a condition about an entity (fires raise conditions).",
    example: "hamctl raise web --type 1",
  },
  condition: {
    summary: "Add a condition to an entity.",
    example: "hamctl condition web/death death --rearm",
  },
  "condition-remove": {
    summary: "Remove a condition and its actions.",
    example: "hamctl condition-remove web/death",
  },
  action: {
    summary: "Add an action to a condition's list. A notify or signal action may name another " +
      "node with --to-node NAME (its HAM delivers it; --node NAME before the subcommand picks " +
      "the HAM to talk to instead); a signal to another node names its entity with --to-entity.",
    example: "hamctl action web/death/restart restart --rearm --backoff 100ms --intensity 5",
  },
  "action-remove": { summary: "Remove an action.", example: "hamctl action-remove web/death/note" },
  "action-fail": {
    summary: "Add an item to an action's action-fail list.",
    example: 'hamctl action-fail web/death/restart tell log --message "restart failed"',
  },
  "action-fail-remove": {
    summary: "Remove an action-fail item.",
    example: "hamctl action-fail-remove web/death/restart tell",
  },
  enable: {
    summary: "Enable an entity, condition or action.",
    example: "hamctl enable web --recurse",
  },
  disable: {
    summary: "Disable an entity, condition or action.",
    example: "hamctl disable web/death/note",
  },
  flags: {
    summary: "Show or change an item's flags.",
    example: "hamctl flags web/death add rearm",
  },
  verbose: { summary: "Show or change the HAM's log verbosity.", example: "hamctl verbose set 2" },
  ping: { summary: "Check that the HAM answers.", example: "hamctl ping" },
  stop: {
    summary: "Stop the Guardian and the HAM; waits until both are gone (--timeout: " +
      `${limit(DEFAULTS.stopWaitMs)} by default; --no-wait: at once). Monitored processes run on.`,
    example: "hamctl stop",
  },
  status: {
    summary: "Show the status of the HAM or of one item.",
    example: "hamctl status web --json",
  },
  events: {
    summary: "List the kept events, or follow them live.",
    example: "hamctl events --follow --entity web",
  },
  wait: {
    summary: "Wait until an entity is running, dead, restarted, detached, or a condition fires " +
      `(--timeout: ${limit(DEFAULTS.waitTimeoutMs)} by default).`,
    example: 'hamctl wait web --for restarted --pid "$old"',
  },
  notify: {
    summary: "Notify the subscribers of a channel, as a notify action does (with --node NAME " +
      "before the subcommand: those of another node).",
    example: "hamctl notify ops --code 1 --value 42",
  },
  kill: {
    summary: "Signal an entity's process (SIGTERM by default) through its pidfd; its " +
      "conditions decide what follows.",
    example: "hamctl kill web --signal KILL",
  },
  restart: {
    summary: "Restart an entity through its restart action (or its command): SIGTERM, SIGKILL " +
      `after ${limit(DEFAULTS.restartStopTimeoutMs)}; --wait prints the new pid (--timeout: ` +
      `${limit(DEFAULTS.waitTimeoutMs)} by default).`,
    example: "hamctl restart web --wait",
  },
  list: {
    summary: "One line per entity: name, pid, state, restarts, uptime, last exit.",
    example: "hamctl list",
  },
  policy: {
    summary: "Show the effective access policy (who may do what) and your role in it.",
    example: "hamctl policy",
  },
  metrics: {
    summary: "Print the metrics in the Prometheus text format.",
    example: "hamctl metrics",
  },
  logs: {
    summary: "Show the last lines (10 by default) of an entity's output log, and with --follow " +
      "what it writes next.",
    example: "hamctl logs web -n 50 --follow",
  },
  apply: {
    summary: "Make the HAM match a config file (YAML or JSON); --dry-run shows the plan, " +
      "--prune removes what the file lacks.",
    example: "hamctl apply /etc/ham/ham.yaml --dry-run",
  },
  export: {
    summary: "Print the running configuration as a config file.",
    example: "hamctl export > ham.yaml",
  },
  batch: {
    summary: "Run several subcommands, one per line of stdin, over one connection.",
    example: "hamctl batch < setup.txt",
  },
  completion: {
    summary: "Print a shell completion script for bash, zsh or fish.",
    example: "hamctl completion bash > /etc/bash_completion.d/hamctl",
  },
  help: { summary: "Explain a subcommand, with an example.", example: "hamctl help wait" },
};

/** The edit distance of two words (insertions, deletions, substitutions, transpositions). */
export function editDistance(a: string, b: string): number {
  const d: number[][] = Array.from(
    { length: a.length + 1 },
    (_, i) => [i, ...Array(b.length).fill(0)],
  );
  for (let j = 1; j <= b.length; j++) d[0][j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      d[i][j] = Math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) {
        d[i][j] = Math.min(d[i][j], d[i - 2][j - 2] + 1);
      }
    }
  }
  return d[a.length][b.length];
}

/** The nearest of `names` to `word` (within a third of its length, at least 1), or null. */
export function nearest(word: string, names: readonly string[]): string | null {
  let best: string | null = null;
  let bestD = Infinity;
  for (const n of names) {
    const dist = n.startsWith(word) && word.length >= 2 ? 0.5 : editDistance(word, n);
    if (dist < bestD) [best, bestD] = [n, dist];
  }
  return bestD <= Math.max(1, Math.floor(word.length / 3)) ? best : null;
}
