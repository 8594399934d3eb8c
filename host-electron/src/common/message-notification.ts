import type { HostSettings } from './host-settings.ts';
import type { MessagingChange } from './client-api.ts';

/*
 * What a desktop notification for an incoming message says. One function for both hosts:
 * Electron main (its Notification) and the web renderer (the browser's Notification API).
 */

export interface MessageNotification {
  title: string;
  body: string;
  /** The conversation to open when the notification is clicked. */
  peer: string;
}

const MAX_BODY = 160;

/**
 * The notification for a change, or `undefined` when there is none to show: not a new incoming
 * message, a deleted one, notifications off, or the window focused.
 */
export function messageNotificationFor(
  change: unknown,
  options: { settings: Pick<HostSettings, 'notifications' | 'hideNotificationText'>; focused: boolean; senderName?: string | undefined },
): MessageNotification | undefined {
  if (!options.settings.notifications || options.focused) return undefined;
  const message = incomingMessage(change);
  if (!message) return undefined;
  const who = options.senderName?.trim() || `${message.peer.slice(0, 12)}…`;
  if (options.settings.hideNotificationText) return { title: `New message from ${who}`, body: 'Open DiscordOpus to read it.', peer: message.peer };
  const text = message.text.replace(/\s+/g, ' ').trim();
  return { title: who, body: text.length > MAX_BODY ? `${text.slice(0, MAX_BODY - 1)}…` : text, peer: message.peer };
}

function incomingMessage(change: unknown): { peer: string; text: string } | undefined {
  const c = change as Partial<Extract<MessagingChange, { kind: 'message' }>> | undefined;
  if (!c || c.kind !== 'message' || !c.message || typeof c.message !== 'object') return undefined;
  const { direction, peer, text } = c.message;
  if (direction !== 'in' || typeof peer !== 'string' || typeof text !== 'string') return undefined;
  return { peer, text };
}
