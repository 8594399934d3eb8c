import { AppError } from '@discordopus/sdk';
import { isMethodName } from '../common/bridge-protocol.ts';

export interface IpcCall {
  method: string;
  params: unknown;
}

/**
 * Checks a call that arrived from the renderer over IPC (Electron main side). The renderer is
 * treated as untrusted: anything but `{ method, params? }` with a well-formed method name and
 * object/array params is refused.
 * @throws AppError `bridge/invalid-request`
 */
export function parseIpcCall(payload: unknown): IpcCall {
  if (!payload || typeof payload !== 'object' || Array.isArray(payload)) {
    throw new AppError('bridge/invalid-request', 'Invalid bridge call: expected an object with a method.');
  }
  const keys = Object.keys(payload);
  if (keys.some((key) => key !== 'method' && key !== 'params')) {
    throw new AppError('bridge/invalid-request', 'Invalid bridge call: only "method" and "params" are allowed.');
  }
  const { method, params } = payload as { method?: unknown; params?: unknown };
  if (!isMethodName(method)) throw new AppError('bridge/invalid-request', 'Invalid bridge call: missing or malformed method name.');
  if (params !== undefined && (params === null || typeof params !== 'object')) {
    throw new AppError('bridge/invalid-request', `Invalid bridge call to ${method}: params must be an object or an array.`);
  }
  return { method, params };
}
