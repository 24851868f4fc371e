import { CHOICES, COMMANDS, type CommandName, OPTIONS, type OptionName } from './spec.js';

function words(command: CommandName): string {
  const spec = COMMANDS[command];
  const flags = [...spec.options, 'help'].map((o) => `--${o}`);
  const positionals: readonly string[] =
    command === 'help' ? Object.keys(COMMANDS) : 'positionals' in spec ? spec.positionals : [];
  return [...positionals, ...flags].join(' ');
}

function valueWords(name: OptionName): string | undefined {
  return CHOICES[name]?.join(' ');
}

/** A bash completion script (`source <(tapnet completion bash)`), derived from the spec. */
export function bashCompletion(): string {
  const commands = Object.keys(COMMANDS) as CommandName[];
  const valueOptions = (Object.keys(OPTIONS) as OptionName[]).filter(
    (o) => OPTIONS[o].type === 'string',
  );
  return `# bash completion for tapnet: source <(tapnet completion bash)
_tapnet() {
  local cur prev cmd i
  cur=\${COMP_WORDS[COMP_CWORD]}
  prev=\${COMP_WORDS[COMP_CWORD-1]}
  for ((i = 1; i < COMP_CWORD; i++)); do
    [ "\${COMP_WORDS[i]}" = "--" ] && return 0
  done
  cmd=
  for ((i = 1; i < COMP_CWORD; i++)); do
    case "\${COMP_WORDS[i]}" in -*) ;; *) cmd=\${COMP_WORDS[i]}; break ;; esac
  done
  case "$prev" in
${valueOptions
  .map((o) => {
    const choices = valueWords(o);
    if (choices) return `    --${o}) COMPREPLY=($(compgen -W "${choices}" -- "$cur")); return 0 ;;`;
    const value: string | undefined = (OPTIONS[o] as { value?: string }).value;
    if (/DIR|FILE/.test(value ?? ''))
      return `    --${o}) COMPREPLY=($(compgen -f -- "$cur")); return 0 ;;`;
    return `    --${o}) return 0 ;;`;
  })
  .join('\n')}
  esac
  case "$cmd" in
    '') COMPREPLY=($(compgen -W "${commands.join(' ')} --help --version" -- "$cur")) ;;
${commands.map((c) => `    ${c}) COMPREPLY=($(compgen -W "${words(c)}" -- "$cur")) ;;`).join('\n')}
  esac
}
complete -F _tapnet tapnet
`;
}

/** A zsh completion script (`source <(tapnet completion zsh)`), derived from the spec. */
export function zshCompletion(): string {
  const commands = Object.keys(COMMANDS) as CommandName[];
  const describe = (s: string) => s.replace(/[[\]:'`]/g, '');
  const optionSpec = (o: OptionName) => {
    const opt: { type: string; help: string; value?: string } = OPTIONS[o];
    if (opt.type === 'boolean') return `'--${o}[${describe(opt.help)}]'`;
    const choices = valueWords(o);
    const action = choices ? `(${choices})` : /DIR|FILE/.test(opt.value ?? '') ? '_files' : ' ';
    return `'--${o}=[${describe(opt.help)}]:${o}:${action}'`;
  };
  return `#compdef tapnet
# zsh completion for tapnet: source <(tapnet completion zsh)
_tapnet() {
  local -a commands
  commands=(
${commands.map((c) => `    '${c}:${describe(COMMANDS[c].summary)}'`).join('\n')}
  )
  if (( CURRENT == 2 )); then
    _describe 'command' commands
    return
  fi
  case "$words[2]" in
${commands
  .map((c) => {
    const spec = COMMANDS[c];
    const positional: readonly string[] =
      c === 'help' ? commands : 'positionals' in spec ? spec.positionals : [];
    const extra = positional.length > 0 ? ` '*:argument:(${positional.join(' ')})'` : '';
    return `    ${c}) _arguments ${[...spec.options, 'help' as const].map(optionSpec).join(' ')}${extra} ;;`;
  })
  .join('\n')}
  esac
}
compdef _tapnet tapnet
`;
}
