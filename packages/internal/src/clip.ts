/** How much of a command's output an error message quotes; the rest stays on the error object. */
export const MESSAGE_OUTPUT_CHARS = 300;

/**
 * The start of a command's output, at most `chars` characters, then how many lines were left
 * out and where they are (`where`, e.g. `cause.stderr`): tools like `ip -batch`,
 * `iptables-restore` and `nft -f` report the first failing line first, and at 4096 networks
 * their whole output would make a message of tens of kilobytes.
 */
export function clip(text: string, where: string, chars = MESSAGE_OUTPUT_CHARS): string {
  const trimmed = text.trim();
  if (trimmed.length <= chars) return trimmed;
  const rest = trimmed.slice(chars).split('\n').length;
  return `${trimmed.slice(0, chars)}… (${rest} more line${rest === 1 ? '' : 's'} in \`${where}\`)`;
}
