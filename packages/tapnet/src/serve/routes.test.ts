import { describe, expect, it } from 'vitest';
import { matchRoute } from './routes.js';

describe('matchRoute', () => {
  it.each([
    ['POST', '/v1/networks', 'acquireNetwork', {}],
    ['GET', '/v1/networks', 'listNetworks', {}],
    ['GET', '/v1/networks/tn0', 'getNetwork', { name: 'tn0' }],
    ['HEAD', '/v1/networks/tn0', 'getNetwork', { name: 'tn0' }],
    ['DELETE', '/v1/networks/tn0', 'releaseNetwork', { name: 'tn0' }],
    ['PUT', '/v1/networks/tn0/handler', 'setHandler', { name: 'tn0' }],
    ['POST', '/v1/networks/tn0/renew', 'renewNetwork', { name: 'tn0' }],
    ['GET', '/v1/status', 'getStatus', {}],
    ['GET', '/v1/events', 'streamEvents', {}],
    ['GET', '/v1/openapi.json', 'getOpenApi', {}],
    ['GET', '/metrics', 'getMetrics', {}],
  ])('%s %s → %s', (method, path, operation, params) => {
    const match = matchRoute(method, path);
    expect(match.kind === 'route' && match.route.operation).toBe(operation);
    expect(match.kind === 'route' && match.params).toEqual(params);
  });

  it.each([
    ['GET', '/'],
    ['GET', '/v1'],
    ['GET', '/v1/networks/'],
    ['GET', '/v1/networks/tn0/extra'],
    ['GET', '/v2/networks'],
    ['GET', '/v1/networks//handler'],
  ])('%s %s is not found', (method, path) => {
    expect(matchRoute(method, path)).toEqual({ kind: 'not-found' });
  });

  it('answers a wrong method with the allowed ones', () => {
    expect(matchRoute('PATCH', '/v1/networks/tn0')).toEqual({
      kind: 'method-not-allowed',
      allow: ['GET', 'DELETE'],
    });
    expect(matchRoute('DELETE', '/v1/networks')).toEqual({
      kind: 'method-not-allowed',
      allow: ['POST', 'GET'],
    });
  });
});
