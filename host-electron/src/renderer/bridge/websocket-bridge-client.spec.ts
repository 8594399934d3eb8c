// @vitest-environment happy-dom
import { describe, expect, it } from 'vitest';
import { BridgeError } from '../../common/bridge-protocol.ts';
import { WebSocketBridgeClient } from './websocket-bridge-client.ts';

describe('WebSocketBridgeClient.fromLocation', () => {
  it('refuses a page address without a token, saying which address to open', () => {
    const attempt = () => WebSocketBridgeClient.fromLocation({ host: '127.0.0.1:1234', hash: '', protocol: 'http:' });
    expect(attempt).toThrow(BridgeError);
    expect(attempt).toThrow(/#token=/);
  });

  it('builds the bridge address from the fragment token', () => {
    const client = WebSocketBridgeClient.fromLocation({ host: '127.0.0.1:1234', hash: '#token=abc_DEF-1', protocol: 'http:' });
    expect((client as unknown as { url: string }).url).toBe('ws://127.0.0.1:1234/bridge?token=abc_DEF-1');
  });
});
