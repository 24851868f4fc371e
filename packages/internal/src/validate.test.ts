import { describe, expect, it } from 'vitest';
import {
  checks,
  describeValue,
  expectedMessage,
  firstUnknownKey,
  isIntegerIn,
  isPlainObject,
  nullPrototypeCopy,
} from './validate.js';

describe('describeValue', () => {
  it.each([
    [0, '`0` (number)'],
    [1.5, '`1.5` (number)'],
    ['0', '`"0"` (string)'],
    ['', '`""` (string)'],
    ['a\nb', '`"a\\nb"` (string)'],
    [null, '`null` (null)'],
    [undefined, '`undefined` (undefined)'],
    [true, '`true` (boolean)'],
    [[1], '`[1]` (array)'],
    [{ a: 1 }, '`{"a":1}` (object)'],
    [10n, '`10n` (bigint)'],
    [Symbol('s'), '`Symbol(s)` (symbol)'],
    [function named() {}, '`[function named]` (function)'],
    [Number.NaN, '`NaN` (number)'],
  ])('describes %s as %s', (value, text) => {
    expect(describeValue(value)).toBe(text);
  });

  it('cuts long values at 80 characters and survives cycles', () => {
    expect(describeValue('x'.repeat(200))).toBe(`\`"${'x'.repeat(76)}...\` (string)`);
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    expect(describeValue(cyclic)).toBe('`[object Object]` (object)');
  });

  it('builds the house message', () => {
    expect(expectedMessage('size', 'an integer from 1 to 1000', 0)).toBe(
      'Expected `size` to be an integer from 1 to 1000, got `0` (number)',
    );
  });
});

describe('predicates', () => {
  it('isPlainObject', () => {
    expect([{}, Object.create(null), [], null, 'x'].map(isPlainObject)).toEqual([
      true,
      true,
      false,
      false,
      false,
    ]);
  });

  it('isIntegerIn', () => {
    expect([1, 0, 11, 1.5, '2', Number.NaN].map((v) => isIntegerIn(v, 1, 10))).toEqual([
      true,
      false,
      false,
      false,
      false,
      false,
    ]);
  });

  it('firstUnknownKey takes an array or a set', () => {
    expect(firstUnknownKey({ a: 1, b: 2, c: 3 }, ['a', 'c'])).toBe('b');
    expect(firstUnknownKey({ a: 1 }, new Set(['a']))).toBeUndefined();
  });

  it('nullPrototypeCopy keeps __proto__ as a plain key', () => {
    const copy = nullPrototypeCopy(JSON.parse('{"__proto__": {"polluted": true}, "a": 1}'));
    expect(Object.getPrototypeOf(copy)).toBeNull();
    expect(Object.keys(copy)).toEqual(['__proto__', 'a']);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });
});

describe('checks', () => {
  class TestError extends Error {}
  const check = checks((field, expected, value) => {
    throw new TestError(expectedMessage(field, expected, value));
  });

  it('returns valid values', () => {
    const object = { a: 1 };
    expect(check.object('o', object)).toBe(object);
    expect(check.integer('n', 5, 1, 10)).toBe(5);
    expect(check.boolean('b', false)).toBe(false);
    expect(check.array('a', [1, 2], 2)).toEqual([1, 2]);
  });

  it.each([
    [() => check.object('o', []), 'Expected `o` to be an object, got `[]` (array)'],
    [
      () => check.integer('n', 11, 1, 10),
      'Expected `n` to be an integer from 1 to 10, got `11` (number)',
    ],
    [() => check.boolean('b', 'yes'), 'Expected `b` to be a boolean, got `"yes"` (string)'],
    [() => check.array('a', 'x'), 'Expected `a` to be an array, got `"x"` (string)'],
    [
      () => check.array('a', [1, 2, 3], 2),
      'Expected `a` to be an array of at most 2 items, got `[1,2,3]` (array)',
    ],
  ])('throws the package error: %#', (call, message) => {
    expect(call).toThrow(TestError);
    expect(call).toThrow(message);
  });
});
