import { isAppError } from '@discordopus/sdk';
import { isMethodName, RpcErrorCode, type RpcErrorObject, type RpcResponse } from '../common/bridge-protocol.ts';
import { RpcCallError } from './client-session.ts';

/** Something that answers bridge calls: the ProfileLauncher. */
export type CallHandler = (method: string, params: unknown) => Promise<unknown>;

/** Maps whatever a method threw to a JSON-RPC error the renderer can show. */
export function toRpcError(error: unknown): RpcErrorObject {
  if (error instanceof RpcCallError) return error.error;
  if (isAppError(error)) {
    const code = error.code === 'bridge/invalid-params' ? RpcErrorCode.invalidParams : RpcErrorCode.applicationError;
    return { code, message: error.message, data: error.details ? { code: error.code, details: error.details } : { code: error.code } };
  }
  if (error instanceof TypeError || error instanceof RangeError) {
    return { code: RpcErrorCode.invalidParams, message: error.message, data: { code: 'bridge/invalid-params' } };
  }
  // Anything else is a bug; its text may name internals, so the renderer gets a generic message.
  return { code: RpcErrorCode.internalError, message: 'Internal error in the app. Details are in the host log.', data: { code: 'bridge/internal' } };
}

/**
 * Answers one JSON-RPC 2.0 text frame (a request or a batch is not supported: one object per
 * frame). Returns the response text, or undefined for a notification (no id).
 */
export async function handleRpcText(text: string, handler: CallHandler, onInternalError: (error: unknown) => void = () => {}): Promise<string | undefined> {
  let message: unknown;
  try {
    message = JSON.parse(text);
  } catch {
    return JSON.stringify(failure(null, { code: RpcErrorCode.parseError, message: 'Parse error: the message is not JSON.' }));
  }
  if (!message || typeof message !== 'object' || Array.isArray(message)) {
    return JSON.stringify(failure(null, { code: RpcErrorCode.invalidRequest, message: 'Invalid request: expected one JSON-RPC 2.0 object.' }));
  }
  const { jsonrpc, id, method, params } = message as Record<string, unknown>;
  const validId = typeof id === 'string' ? id.length <= 64 : typeof id === 'number' && Number.isSafeInteger(id);
  if (jsonrpc !== '2.0' || (id !== undefined && !validId)) {
    return JSON.stringify(failure(validId ? (id as string | number) : null, { code: RpcErrorCode.invalidRequest, message: 'Invalid request: expected jsonrpc "2.0" and a number or short string id.' }));
  }
  if (!isMethodName(method)) {
    return id === undefined ? undefined : JSON.stringify(failure(id as string | number, { code: RpcErrorCode.invalidRequest, message: 'Invalid request: missing or malformed method name.' }));
  }
  if (params !== undefined && (params === null || typeof params !== 'object')) {
    return id === undefined ? undefined : JSON.stringify(failure(id as string | number, { code: RpcErrorCode.invalidParams, message: 'Invalid params: expected an object or an array.' }));
  }
  try {
    const result = await handler(method, params);
    return id === undefined ? undefined : JSON.stringify({ jsonrpc: '2.0', id: id as string | number, result: result ?? null } satisfies RpcResponse);
  } catch (error) {
    const rpcError = toRpcError(error);
    if (rpcError.code === RpcErrorCode.internalError) onInternalError(error);
    return id === undefined ? undefined : JSON.stringify(failure(id as string | number, rpcError));
  }
}

function failure(id: string | number | null, error: RpcErrorObject): RpcResponse {
  return { jsonrpc: '2.0', id, error };
}
