import { expect, it } from 'vitest';
import { withoutMeterElements } from './state.js';

const set = (elements: string) => `table inet tapnet_hg {
\tset conns {
\t\ttype ifname
\t\tsize 65535
\t\tflags dynamic${elements}
\t}
\tset taps {
\t\ttype ifname
\t\telements = { "hg0", "hg1" }
\t}
}`;

it('drops the conntrack meter’s elements, one or many, and nothing else', () => {
  const empty = set('');
  expect(withoutMeterElements(set('\n\t\telements = { "hg0" ct count over 8192 }'))).toBe(empty);
  expect(
    withoutMeterElements(
      set('\n\t\telements = { "hg0" ct count over 8192,\n\t\t\t     "hg1" ct count over 8192 }'),
    ),
  ).toBe(empty);
  expect(withoutMeterElements(empty)).toBe(empty);
  expect(empty).toContain('elements = { "hg0", "hg1" }'); // a static set keeps its elements
});
