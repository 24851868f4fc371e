import { describe, expect, it } from 'vitest';
import { clip, MESSAGE_OUTPUT_CHARS } from './clip.js';

describe('clip', () => {
  it('keeps short output whole, trimmed', () => {
    expect(clip('  line 1 failed\n', 'stderr')).toBe('line 1 failed');
  });

  it('cuts long output and says how many lines are left and where', () => {
    const text = Array.from({ length: 4096 }, (_, i) => `line ${i} failed`).join('\n');
    const clipped = clip(text, 'cause.stderr');
    expect(clipped.startsWith(text.slice(0, MESSAGE_OUTPUT_CHARS))).toBe(true);
    expect(clipped).toMatch(/… \(\d+ more lines in `cause\.stderr`\)$/);
    expect(clipped.length).toBeLessThan(MESSAGE_OUTPUT_CHARS + 60);
  });

  it('counts one left-over line in the singular', () => {
    expect(clip('abcdef', 'stderr', 3)).toBe('abc… (1 more line in `stderr`)');
  });
});
