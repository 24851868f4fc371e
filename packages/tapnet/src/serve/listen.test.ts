import { describe, expect, it } from 'vitest';
import { isLoopback, parseAddress } from './listen.js';
import { authorized } from './server.js';

describe('parseAddress', () => {
  it.each([
    ['127.0.0.1:9464', { host: '127.0.0.1', port: 9464 }],
    ['[::1]:80', { host: '::1', port: 80 }],
    ['localhost:1', { host: 'localhost', port: 1 }],
    ['0.0.0.0:65535', { host: '0.0.0.0', port: 65535 }],
    ['127.0.0.1', undefined],
    ['127.0.0.1:0', undefined],
    ['127.0.0.1:65536', undefined],
    ['example.com:80', undefined],
    [':80', undefined],
  ])('%j → %j', (text, address) => {
    expect(parseAddress(text)).toEqual(address);
  });
});

describe('isLoopback', () => {
  it.each([
    ['127.0.0.1', true],
    ['127.1.2.3', true],
    ['::1', true],
    ['localhost', true],
    ['0.0.0.0', false],
    ['10.0.0.1', false],
    ['::', false],
  ])('%s: %s', (host, loopback) => {
    expect(isLoopback(host)).toBe(loopback);
  });
});

describe('authorized', () => {
  const token = 'a'.repeat(32);
  it.each([
    [`Bearer ${token}`, true],
    [`Bearer ${token}x`, false],
    [`Bearer ${'b'.repeat(32)}`, false],
    [`bearer ${token}`, false],
    [token, false],
    ['', false],
    [undefined, false],
  ])('%j: %s', (header, ok) => {
    expect(authorized(header, token)).toBe(ok);
  });
});
