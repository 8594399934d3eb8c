import { DisposableCollection } from '@discordopus/sdk';
import type { Disposable, Logger, UserId } from '@discordopus/sdk';
import type { SignalingClient } from '../signaling/signaling-client.ts';
import type { ContactsServiceImpl } from '../contacts/contacts-service-impl.ts';

/**
 * Feeds contacts' presence from the signaling server: watches every contact, maps the server's
 * online/offline reports to the contact list, and falls back to 'unknown' while disconnected
 * (the server cannot tell us anything then, and stale 'online' would mislead).
 */
export class SignalingPresence implements Disposable {
  private readonly subscriptions = new DisposableCollection();
  private watched: UserId[] = [];
  // Watch-list updates run one after another so a slow one never overwrites a newer list.
  private queue: Promise<void> = Promise.resolve();

  constructor(
    private readonly signaling: SignalingClient,
    private readonly contacts: ContactsServiceImpl,
    private readonly logger: Logger,
  ) {
    this.subscriptions.push(signaling.onPresence(({ userId, online }) => {
      if (this.watched.includes(userId)) contacts.setPresence(userId, online ? 'online' : 'offline');
    }));
    this.subscriptions.push(signaling.onDidChangeState((state) => {
      if (state === 'connected') this.refresh();
      else for (const userId of this.watched) contacts.setPresence(userId, 'unknown');
    }));
    this.subscriptions.push(contacts.onDidChange(() => this.refresh()));
    this.subscriptions.push(contacts.onDidRemove((userId) => {
      contacts.setPresence(userId, 'unknown');
      this.refresh();
    }));
  }

  /** Re-sends the watch list (all contacts) and applies the snapshot the server answers with. */
  refresh(): Promise<void> {
    this.queue = this.queue.then(async () => {
      if (this.subscriptions.isDisposed || this.signaling.state !== 'connected') return;
      const ids = (await this.contacts.list()).map((c) => c.userId);
      const online = new Set(await this.signaling.subscribePresence(ids));
      this.watched = ids;
      for (const userId of ids) this.contacts.setPresence(userId, online.has(userId) ? 'online' : 'offline');
    }).catch((error) => this.logger.warn('presence: could not update the watch list', { error }));
    return this.queue;
  }

  dispose(): void {
    this.subscriptions.dispose();
  }
}
