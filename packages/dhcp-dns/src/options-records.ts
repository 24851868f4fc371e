import { defaults } from './defaults.js';
import type { NormalizedRecords, NormalizedSrvRecord } from './options.js';
import { array, dnsName, fail, integer, plainObject, rejectUnknown } from './options-checks.js';
import { isIPv4, isIPv6, isPort, isSrvLabel } from './validate.js';

// The records `reload()` may change: metadata names, host records and SRV records.

function normalizeHostRecords(value: unknown): NormalizedRecords['hostRecords'] {
  if (value === undefined) return [];
  return array('hostRecords', value).map((item, i) => {
    const at = `hostRecords[${i}]`;
    const r = plainObject(at, item);
    rejectUnknown(at, r, ['names', 'ipv4', 'ipv6']);
    const names = array(`${at}.names`, r.names, 100);
    if (names.length === 0) fail(`${at}.names`, 'a non-empty array of DNS names', r.names);
    const record: { names: string[]; ipv4?: string; ipv6?: string } = {
      names: names.map((name, j) => dnsName(`${at}.names[${j}]`, name)),
    };
    if (r.ipv4 !== undefined) {
      if (!isIPv4(r.ipv4)) fail(`${at}.ipv4`, 'an IPv4 address', r.ipv4);
      record.ipv4 = r.ipv4;
    }
    if (r.ipv6 !== undefined) {
      if (!isIPv6(r.ipv6)) fail(`${at}.ipv6`, 'an IPv6 address', r.ipv6);
      record.ipv6 = r.ipv6;
    }
    if (record.ipv4 === undefined && record.ipv6 === undefined)
      fail(`${at}.ipv4`, 'an IPv4 address (or `ipv6` set)', r.ipv4);
    return Object.freeze(record);
  });
}

function srvLabel(field: string, value: unknown): string {
  const label = typeof value === 'string' && !value.startsWith('_') ? `_${value}` : value;
  if (!isSrvLabel(label))
    fail(field, 'an SRV label (`http` or `_http`: letters, digits, inner hyphens)', value);
  return label.toLowerCase();
}

function normalizeSrvRecords(value: unknown): NormalizedSrvRecord[] {
  if (value === undefined) return [];
  return array('srvRecords', value).map((item, i) => {
    const at = `srvRecords[${i}]`;
    const r = plainObject(at, item);
    rejectUnknown(at, r, ['service', 'protocol', 'domain', 'target', 'port', 'priority', 'weight']);
    const service = srvLabel(`${at}.service`, r.service);
    const protocol = srvLabel(`${at}.protocol`, r.protocol);
    const domain = r.domain === undefined ? undefined : dnsName(`${at}.domain`, r.domain);
    const target = dnsName(`${at}.target`, r.target);
    if (!isPort(r.port)) fail(`${at}.port`, 'an integer from 0 to 65535', r.port);
    const priority =
      r.priority === undefined ? 0 : integer(`${at}.priority`, r.priority, 0, 65_535);
    const weight = r.weight === undefined ? 0 : integer(`${at}.weight`, r.weight, 0, 65_535);
    const name = [service, protocol, ...(domain ? [domain] : [])].join('.');
    if (name.length > 253)
      fail(`${at}.domain`, 'a domain that keeps the SRV name within 253 characters', r.domain);
    return Object.freeze({ name, target, port: r.port, priority, weight });
  });
}

function normalizeMetadataNames(value: unknown): string[] {
  if (value === undefined) return [...defaults.metadataNames];
  return array('metadataNames', value, 100).map((name, i) => dnsName(`metadataNames[${i}]`, name));
}

/** Validates the records `reload()` may change, with the same rules as `start()`. */
export function normalizeRecords(input: unknown): NormalizedRecords {
  const o = plainObject('records', input);
  rejectUnknown('', o, ['metadataNames', 'hostRecords', 'srvRecords']);
  return {
    metadataNames: normalizeMetadataNames(o.metadataNames),
    hostRecords: normalizeHostRecords(o.hostRecords),
    srvRecords: normalizeSrvRecords(o.srvRecords),
  };
}
