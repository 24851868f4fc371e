/**
 * The control API's routes, as data: the server dispatches on this table, and the OpenAPI test
 * walks it, so a route cannot exist in one and not the other.
 */
export const ROUTES = [
  { method: 'POST', path: '/v1/networks', operation: 'acquireNetwork' },
  { method: 'GET', path: '/v1/networks', operation: 'listNetworks' },
  { method: 'GET', path: '/v1/networks/{name}', operation: 'getNetwork' },
  { method: 'DELETE', path: '/v1/networks/{name}', operation: 'releaseNetwork' },
  { method: 'PUT', path: '/v1/networks/{name}/handler', operation: 'setHandler' },
  { method: 'POST', path: '/v1/networks/{name}/renew', operation: 'renewNetwork' },
  { method: 'GET', path: '/v1/status', operation: 'getStatus' },
  { method: 'GET', path: '/v1/events', operation: 'streamEvents' },
  { method: 'GET', path: '/v1/openapi.json', operation: 'getOpenApi' },
  { method: 'GET', path: '/metrics', operation: 'getMetrics' },
] as const;

export type Route = (typeof ROUTES)[number];
export type Operation = Route['operation'];

export type Match =
  | { kind: 'route'; route: Route; params: Record<string, string> }
  | { kind: 'not-found' }
  | { kind: 'method-not-allowed'; allow: string[] };

function matchPath(template: string, path: string): Record<string, string> | undefined {
  const want = template.split('/');
  const got = path.split('/');
  if (want.length !== got.length) return undefined;
  const params: Record<string, string> = {};
  for (let i = 0; i < want.length; i++) {
    const w = want[i]!;
    const g = got[i]!;
    if (w.startsWith('{')) {
      if (g === '') return undefined;
      params[w.slice(1, -1)] = g;
    } else if (w !== g) return undefined;
  }
  return params;
}

/** The route for a method and path (no query); 404 and 405 as values (pure). */
export function matchRoute(method: string, path: string): Match {
  const allow: string[] = [];
  for (const route of ROUTES) {
    const params = matchPath(route.path, path);
    if (!params) continue;
    if (route.method === method || (method === 'HEAD' && route.method === 'GET'))
      return { kind: 'route', route, params };
    allow.push(route.method);
  }
  return allow.length > 0 ? { kind: 'method-not-allowed', allow } : { kind: 'not-found' };
}
