export * from './double-ratchet.ts';
export * from './x3dh.ts';
export * from './sender-keys.ts';
