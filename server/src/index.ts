export { createSignalingServer, type SignalingServer } from './server.ts';
export { defaultLimits, type ServerLimits, type SignalingServerOptions } from './options.ts';
export { MemoryPrekeyStore, type PrekeyStore, type TakenBundle } from './prekey-store.ts';
export { SqlitePrekeyStore } from './sqlite-prekey-store.ts';
export { RedisPrekeyStore } from './redis-prekey-store.ts';
