import type { Command } from 'commander';

interface Node {
  path: string;
  subcommands: string[];
  options: string[];
}

function walk(cmd: Command, path: string, out: Node[]): void {
  out.push({
    path,
    subcommands: cmd.commands.map((c) => c.name()),
    options: [...cmd.options.map((o) => o.long ?? o.short ?? ''), '--help'].filter((o) => o !== ''),
  });
  for (const c of cmd.commands) walk(c, path === '' ? c.name() : `${path} ${c.name()}`, out);
}

/**
 * A bash completion script for the program's command tree (zsh loads it through bashcompinit): subcommands
 * are followed word by word; options of the command reached are offered for words starting with '-'.
 */
export function bashCompletion(program: Command): string {
  const nodes: Node[] = [];
  walk(program, '', nodes);
  const name = program.name();
  const fn = `_${name.replace(/[^A-Za-z0-9_]/g, '_')}_complete`;
  const subs = nodes.map((n) => `    "${n.path}") subs="${n.subcommands.join(' ')}" ;;`).join('\n');
  const opts = nodes.map((n) => `    "${n.path}") opts="${n.options.join(' ')}" ;;`).join('\n');
  return `# ${name} completion: source <(${name} completion bash)   (zsh: autoload -U bashcompinit && bashcompinit first)
${fn}() {
  local cur="\${COMP_WORDS[COMP_CWORD]}" path="" word subs opts i
  for ((i = 1; i < COMP_CWORD; i++)); do
    word="\${COMP_WORDS[i]}"
    case "$path" in
${subs}
    *) subs="" ;;
    esac
    case " $subs " in *" $word "*) path="\${path:+$path }$word" ;; esac
  done
  case "$path" in
${subs}
    *) subs="" ;;
  esac
  case "$path" in
${opts}
    *) opts="" ;;
  esac
  if [[ "$cur" == -* ]]; then
    COMPREPLY=($(compgen -W "$opts" -- "$cur"))
  else
    COMPREPLY=($(compgen -W "$subs" -- "$cur"))
  fi
}
complete -o default -F ${fn} ${name}
`;
}
