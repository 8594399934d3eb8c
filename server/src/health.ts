import type { IncomingMessage, ServerResponse } from 'node:http';
import type { ServerMetrics } from './metrics.ts';

export interface HttpHandlerOptions {
  metrics: ServerMetrics;
  isHealthy(): boolean;
}

/**
 * Plain HTTP routes next to socket.io (which answers its own path first): `GET /healthz`
 * (200 ok, 503 while shutting down or when Redis is unreachable) and `GET /metrics` (Prometheus).
 */
export function createHttpHandler(options: HttpHandlerOptions): (req: IncomingMessage, res: ServerResponse) => void {
  return (req, res) => {
    if (req.url?.startsWith('/socket.io')) return;
    const path = (req.url ?? '/').split('?')[0];
    if (req.method === 'GET' && path === '/healthz') {
      const healthy = options.isHealthy();
      res.writeHead(healthy ? 200 : 503, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ status: healthy ? 'ok' : 'unavailable' }));
      return;
    }
    if (req.method === 'GET' && path === '/metrics') {
      options.metrics.registry.metrics().then(
        (text) => {
          res.writeHead(200, { 'content-type': options.metrics.registry.contentType });
          res.end(text);
        },
        () => {
          res.writeHead(500);
          res.end();
        },
      );
      return;
    }
    res.writeHead(404, { 'content-type': 'text/plain' });
    res.end('not found\n');
  };
}
