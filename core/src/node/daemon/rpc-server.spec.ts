import { AppError, toDisposable } from '@discordopus/sdk';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { RpcErrorCode, RpcServer, rpcMethod } from './rpc-server.ts';

const disposed: string[] = [];
const methods = {
  echo: rpcMethod(z.strictObject({ text: z.string() }), ({ text }) => ({ text })),
  nothing: rpcMethod(z.strictObject({}), () => undefined),
  fail: rpcMethod(z.strictObject({}), () => {
    throw new AppError('contacts/not-found', 'No contact is named "x".', { details: { name: 'x' } });
  }),
  misuse: rpcMethod(z.strictObject({}), () => {
    throw new RangeError('misuse: out of range');
  }),
  crash: rpcMethod(z.strictObject({}), () => {
    throw new Error('secret internals');
  }),
  watch: rpcMethod(z.strictObject({ name: z.string() }), ({ name }, session) => {
    session.subscriptions.push(toDisposable(() => disposed.push(name)));
    session.notify('event', { hello: name });
    return 'watching';
  }),
};

function connect() {
  const server = new RpcServer(methods);
  const sent: any[] = [];
  const connection = server.connect((text) => sent.push(JSON.parse(text)));
  const call = async (message: unknown) => {
    sent.length = 0;
    await connection.receive(typeof message === 'string' ? message : JSON.stringify(message));
    return [...sent];
  };
  return { server, connection, call, sent };
}

describe('RpcServer', () => {
  it('answers a request with its id', async () => {
    const { call } = connect();
    expect(await call({ jsonrpc: '2.0', id: 7, method: 'echo', params: { text: 'hi' } })).toEqual([{ jsonrpc: '2.0', id: 7, result: { text: 'hi' } }]);
    expect(await call({ jsonrpc: '2.0', id: 'a', method: 'nothing' })).toEqual([{ jsonrpc: '2.0', id: 'a', result: null }]);
  });

  it('sends nothing back for notifications, even failing ones', async () => {
    const { call } = connect();
    expect(await call({ jsonrpc: '2.0', method: 'echo', params: { text: 'hi' } })).toEqual([]);
    expect(await call({ jsonrpc: '2.0', method: 'fail' })).toEqual([]);
    expect(await call({ jsonrpc: '2.0', method: 'unknown' })).toEqual([]);
  });

  it('-32700 for malformed JSON, with a null id', async () => {
    const { call } = connect();
    const [reply] = await call('{"jsonrpc": "2.0", "id": 1, ');
    expect(reply).toMatchObject({ id: null, error: { code: RpcErrorCode.ParseError } });
  });

  it('-32600 for requests that are not JSON-RPC 2.0', async () => {
    const { call } = connect();
    for (const bad of [{ id: 1, method: 'echo' }, { jsonrpc: '1.0', id: 1, method: 'echo' }, { jsonrpc: '2.0', id: {}, method: 'echo' },
      { jsonrpc: '2.0', id: 1 }, { jsonrpc: '2.0', id: 1, method: 'echo', params: 'text' }, { jsonrpc: '2.0', id: 1, method: 'echo', extra: 1 }, 42, '"text"', null]) {
      const [reply] = await call(bad);
      expect(reply.error.code, JSON.stringify(bad)).toBe(RpcErrorCode.InvalidRequest);
    }
    expect((await call({ jsonrpc: '2.0', id: 3, method: 'echo', extra: true }))[0].id).toBe(3);
  });

  it('-32601 for unknown methods, including inherited property names', async () => {
    const { call } = connect();
    for (const method of ['nope', 'toString', '__proto__', 'constructor']) {
      const [reply] = await call({ jsonrpc: '2.0', id: 1, method });
      expect(reply.error.code).toBe(RpcErrorCode.MethodNotFound);
    }
  });

  it('-32602 for params that do not match the schema, naming the problem', async () => {
    const { call } = connect();
    const [missing] = await call({ jsonrpc: '2.0', id: 1, method: 'echo', params: {} });
    expect(missing.error.code).toBe(RpcErrorCode.InvalidParams);
    expect(missing.error.data.issues[0].path).toEqual(['text']);
    const [extra] = await call({ jsonrpc: '2.0', id: 1, method: 'echo', params: { text: 'x', other: 1 } });
    expect(extra.error.code).toBe(RpcErrorCode.InvalidParams);
    const [positional] = await call({ jsonrpc: '2.0', id: 1, method: 'echo', params: ['x'] });
    expect(positional.error.code).toBe(RpcErrorCode.InvalidParams);
    const [thrown] = await call({ jsonrpc: '2.0', id: 1, method: 'misuse' });
    expect(thrown.error).toMatchObject({ code: RpcErrorCode.InvalidParams, message: expect.stringContaining('out of range') });
  });

  it('maps AppErrors to the application code with data.code and details', async () => {
    const { call } = connect();
    const [reply] = await call({ jsonrpc: '2.0', id: 1, method: 'fail' });
    expect(reply.error).toEqual({
      code: RpcErrorCode.AppError, message: 'No contact is named "x".',
      data: { code: 'contacts/not-found', message: 'No contact is named "x".', details: { name: 'x' } },
    });
  });

  it('hides unexpected errors behind -32603', async () => {
    const { call } = connect();
    const [reply] = await call({ jsonrpc: '2.0', id: 1, method: 'crash' });
    expect(reply.error.code).toBe(RpcErrorCode.InternalError);
    expect(JSON.stringify(reply)).not.toContain('secret internals');
  });

  it('answers batches, leaving out notifications; refuses empty batches', async () => {
    const { call } = connect();
    const replies = await call([
      { jsonrpc: '2.0', id: 1, method: 'echo', params: { text: 'a' } },
      { jsonrpc: '2.0', method: 'echo', params: { text: 'b' } },
      { jsonrpc: '2.0', id: 2, method: 'nope' },
    ]);
    expect(replies).toHaveLength(1);
    expect(replies[0]).toEqual([
      { jsonrpc: '2.0', id: 1, result: { text: 'a' } },
      { jsonrpc: '2.0', id: 2, error: { code: RpcErrorCode.MethodNotFound, message: 'Method not found: nope.' } },
    ]);
    expect((await call([]))[0].error.code).toBe(RpcErrorCode.InvalidRequest);
    expect((await call([{ jsonrpc: '2.0', method: 'nothing' }]))).toEqual([]);
    expect((await call(new Array(101).fill({ jsonrpc: '2.0', method: 'nothing' })))[0].error.code).toBe(RpcErrorCode.InvalidRequest);
  });

  it('lets methods notify their connection and disposes what they hold when it closes', async () => {
    const { server, connection, call } = connect();
    const replies = await call({ jsonrpc: '2.0', id: 1, method: 'watch', params: { name: 'w1' } });
    expect(replies).toEqual([
      { jsonrpc: '2.0', method: 'event', params: { hello: 'w1' } },
      { jsonrpc: '2.0', id: 1, result: 'watching' },
    ]);
    const other = server.connect(() => {});
    await other.receive(JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'watch', params: { name: 'w2' } }));
    connection.dispose();
    expect(disposed).toEqual(['w1']);
    server.dispose();
    expect(disposed).toEqual(['w1', 'w2']);
    expect(await call({ jsonrpc: '2.0', id: 2, method: 'nothing' })).toEqual([]);
  });
});
