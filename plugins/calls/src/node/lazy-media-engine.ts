import type { MediaEngine, MediaSession, MediaSessionOptions } from '../common/media-engine.ts';

/**
 * A media engine whose implementation is imported when the first call needs it, so a client that
 * never calls (every CLI command but `call`, a daemon until someone rings) does not pay for loading
 * werift and its media stack (~0.6 s of CPU). A failed load is retried by the next call.
 */
export class LazyMediaEngine implements MediaEngine {
  private engine: Promise<MediaEngine> | undefined;

  /** @param name the loaded engine's name, known before loading (the call view records it first). */
  constructor(readonly name: string, private readonly load: () => Promise<MediaEngine>) {}

  async createSession(options: MediaSessionOptions): Promise<MediaSession> {
    this.engine ??= this.load().catch((error: unknown) => {
      this.engine = undefined;
      throw error;
    });
    return (await this.engine).createSession(options);
  }
}
