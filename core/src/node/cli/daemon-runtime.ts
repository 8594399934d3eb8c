/*
 * What only `discordopus daemon` needs (the RPC server, its socket and the method table), apart
 * from cli-runtime.ts so that the other commands do not load it.
 */
export { clientRpcMethods } from '../daemon/client-rpc-methods.ts';
export { RpcServer } from '../daemon/rpc-server.ts';
export { UnixSocketTransport } from '../daemon/unix-socket-transport.ts';
