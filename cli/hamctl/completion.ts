/**
 * `hamctl completion bash|zsh|fish`: a shell completion script completing subcommands,
 * their options (taken from the usage lines, the same text `hamctl help` prints) and
 * entity names (from `hamctl list --json`). Load it with
 * `source <(hamctl completion bash)`; zsh and fish likewise.
 *
 * @module
 */

import {
  type HamctlCommand,
  parseCommandArgs,
  positionals,
  type Subcommand,
  UsageError,
} from "./common.ts";

/**
 * Every subcommand: the registry's `loadAllSubcommands`, handed in by the registry itself
 * (so that this file, which the registry loads, does not import it back).
 */
export type LoadAll = () => Promise<Subcommand[]>;

/** Each subcommand's options, from its usage text. */
export async function subcommandOptions(loadAll: LoadAll): Promise<Map<string, string[]>> {
  const out = new Map<string, string[]>();
  for (const s of await loadAll()) {
    const opts = [...new Set([...s.usage.matchAll(/--[a-z][a-z-]*/g)].map((m) => m[0]))];
    out.set(s.name, [...opts, "--json", "--help"]);
  }
  out.set("help", []);
  return out;
}

const ENTITIES = `hamctl list --json 2>/dev/null | sed -n 's/^ *"name": "\\(.*\\)",$/\\1/p'`;

function bash(subs: Map<string, string[]>): string {
  const cases = [...subs].map(([n, o]) => `    ${n}) opts="${o.join(" ")}" ;;`).join("\n");
  return `# bash completion for hamctl (hamctl completion bash)
_hamctl() {
  local cur sub opts i
  cur="\${COMP_WORDS[COMP_CWORD]}"
  sub=""
  for ((i = 1; i < COMP_CWORD; i++)); do
    case "\${COMP_WORDS[i]}" in
      --state-dir) i=$((i + 1)) ;;
      -*) ;;
      *) sub="\${COMP_WORDS[i]}"; break ;;
    esac
  done
  if [ -z "$sub" ]; then
    COMPREPLY=($(compgen -W "${[...subs.keys()].join(" ")} --state-dir --version --help" -- "$cur"))
    return
  fi
  case "$sub" in
${cases}
    *) opts="" ;;
  esac
  if [ "$sub" = help ]; then
    COMPREPLY=($(compgen -W "${[...subs.keys()].join(" ")}" -- "$cur"))
  elif [[ "$cur" == -* ]]; then
    COMPREPLY=($(compgen -W "$opts" -- "$cur"))
  else
    COMPREPLY=($(compgen -W "$(${ENTITIES})" -- "$cur"))
  fi
}
complete -o default -F _hamctl hamctl
`;
}

function zsh(subs: Map<string, string[]>): string {
  const cases = [...subs].map(([n, o]) => `    ${n}) opts=(${o.join(" ")}) ;;`).join("\n");
  return `#compdef hamctl
# zsh completion for hamctl (hamctl completion zsh)
_hamctl() {
  local -a subs opts
  subs=(${[...subs.keys()].join(" ")})
  local sub=""
  local i
  for ((i = 2; i < CURRENT; i++)); do
    case "\${words[i]}" in
      --state-dir) ((i++)) ;;
      -*) ;;
      *) sub="\${words[i]}"; break ;;
    esac
  done
  if [[ -z "$sub" ]]; then
    compadd -- $subs --state-dir --version --help
    return
  fi
  case "$sub" in
${cases}
    *) opts=() ;;
  esac
  if [[ "$sub" == help ]]; then
    compadd -- $subs
  elif [[ "$PREFIX" == -* ]]; then
    compadd -- $opts
  else
    compadd -- \${(f)"$(${ENTITIES})"}
  fi
}
compdef _hamctl hamctl
`;
}

function fish(subs: Map<string, string[]>): string {
  const names = [...subs.keys()].join(" ");
  const lines = [
    "# fish completion for hamctl (hamctl completion fish)",
    "complete -c hamctl -f",
    "complete -c hamctl -l state-dir -r -d 'state directory'",
    "complete -c hamctl -l version -d 'print the version'",
    `complete -c hamctl -n 'not __fish_seen_subcommand_from ${names}' -a '${names}'`,
    `complete -c hamctl -n '__fish_seen_subcommand_from help' -a '${names}'`,
  ];
  for (const [n, opts] of subs) {
    for (const o of opts) {
      lines.push(`complete -c hamctl -n '__fish_seen_subcommand_from ${n}' -l ${o.slice(2)}`);
    }
  }
  lines.push(
    `complete -c hamctl -n '__fish_seen_subcommand_from ${names}' -a '(${
      ENTITIES.replaceAll("'", "\\'")
    })'`,
  );
  return `${lines.join("\n")}\n`;
}

const SHELLS = { bash, zsh, fish } as const;

function parseCompletion(args: string[], loadAll: LoadAll): HamctlCommand {
  const cmd = "completion";
  const p = parseCommandArgs(cmd, args, {});
  const [shell] = positionals(cmd, p, ["SHELL"]);
  if (!(shell in SHELLS)) {
    throw new UsageError(`Invalid shell "${shell}": expected bash, zsh or fish`, cmd);
  }
  return {
    request: { op: "ping" },
    json: false,
    render: () => null,
    local: async (_stateDir, io) => {
      io.out(SHELLS[shell as keyof typeof SHELLS](await subcommandOptions(loadAll)).trimEnd());
      return 0;
    },
  };
}

/** The completion subcommand, completing the subcommands `loadAll` lists. */
export function completionCommand(loadAll: LoadAll): Subcommand {
  return {
    name: "completion",
    usage: "completion bash|zsh|fish",
    parse: (args) => parseCompletion(args, loadAll),
  };
}
