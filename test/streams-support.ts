/**
 * A tiny first-party plugin for the stream scenarios: it accepts streams through `ctx.streams`
 * (so the whole path plugin context → kernel PeerStreams → peer link is exercised) and exposes
 * `open` for the test.
 *   - 'echo': every chunk is written back.
 *   - 'sink': chunks are counted; on close the count is reported through `onSinkClosed`.
 */
import { definePlugin, type AppError, type PeerStream, type UserId } from '@discordopus/sdk';

export interface StreamTestApi {
  open(to: UserId, name: string, timeoutMs?: number): Promise<PeerStream>;
  sinkBytes(): number;
  onSinkClosed(listener: (result: { bytes: number; error: string | undefined }) => void): void;
}

export function streamTestPlugin() {
  let sink = 0;
  const sinkListeners: ((result: { bytes: number; error: string | undefined }) => void)[] = [];
  return definePlugin<StreamTestApi>({
    id: 'streamtest',
    version: '0.1.0',
    displayName: 'Stream test',
    description: 'Echo and sink streams for the stream scenarios.',
    engines: { sdk: '^0.1.0' },
    permissions: { contacts: true, peers: true },
    activate(ctx) {
      ctx.subscriptions.push(ctx.streams.onStream('echo', (stream) => {
        stream.onData((data) => void stream.write(data).catch(() => {}));
        stream.onDidClose((error) => {
          if (!error) void stream.close();
        });
      }));
      ctx.subscriptions.push(ctx.streams.onStream('sink', (stream) => {
        let bytes = 0;
        stream.onData((data) => {
          bytes += data.length;
          sink += data.length;
        });
        stream.onDidClose((error: AppError | undefined) => sinkListeners.forEach((l) => l({ bytes, error: error?.code })));
      }));
      return {
        open: (to, name, timeoutMs) => ctx.streams.open(to, name, timeoutMs === undefined ? {} : { timeoutMs }),
        sinkBytes: () => sink,
        onSinkClosed: (listener) => void sinkListeners.push(listener),
      };
    },
  });
}
