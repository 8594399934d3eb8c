export * from './crypto-provider.ts';
export * from './crypto-error.ts';
export * from './bytes.ts';
export * from './byte-codec.ts';
export * from './noble-crypto-provider.ts';
