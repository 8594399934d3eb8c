export * from './node-crypto-provider.ts';
