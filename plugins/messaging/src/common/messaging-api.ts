import type { Event, UserId } from '@discordopus/sdk';

/*
 * The messaging plugin's API, as returned from `activate`: what the CLI, the daemon and the
 * desktop renderer call. Plain data only, so it crosses JSON-RPC and the preload bridge as is.
 */

/**
 * Outgoing: `queued` (in the outbox, retried with backoff), `sent` (the peer's kernel stored it,
 * for its messaging plugin to store), `delivered` (the peer's messaging plugin stored it: usually
 * straight from `queued`, when it stored the message in the commit that received it), `read` (the peer marked it read),
 * `failed` (a lasting error such as a changed identity key; `retry` re-queues it).
 * Incoming: `received`, then `read` once the local user marks it read.
 */
export type MessageStatus = 'queued' | 'sent' | 'delivered' | 'read' | 'failed' | 'received';

export interface Reaction {
  from: UserId;
  emoji: string;
}

export interface MessageView {
  id: string;
  /** The other side of the conversation. */
  peer: UserId;
  direction: 'in' | 'out';
  /** The author. */
  from: UserId;
  /** `null` once deleted (tombstone). */
  text: string | null;
  replyTo?: string;
  /** The author's clock at sending. */
  sentAt: number;
  /** The author's per-conversation sequence number. */
  seq: number;
  status: MessageStatus;
  editedAt?: number;
  deleted: boolean;
  reactions: Reaction[];
  /** Why the last attempt failed (outgoing). */
  error?: { code: string; message: string };
  /** Opaque position for paging (`history({ before })`). */
  cursor: string;
}

export interface ConversationView {
  peer: UserId;
  /** The contact's name, or '' when unknown. */
  name: string;
  last?: MessageView;
  unread: number;
  /** Outgoing messages still in the outbox. */
  queued: number;
}

export interface HistoryPage {
  /** Oldest first. */
  messages: MessageView[];
  /** Pass as `before` for the previous (older) page; absent at the start of the conversation. */
  before?: string;
}

/** What `onDidChange` reports; the bus carries `messaging.received` and `messaging.status` too. */
export type MessagingChange =
  | { kind: 'message'; message: MessageView }
  | { kind: 'status'; peer: UserId; id: string; status: MessageStatus; error?: { code: string; message: string } }
  | { kind: 'updated'; message: MessageView }
  | { kind: 'typing'; peer: UserId; typing: boolean }
  | { kind: 'applied'; peer: UserId; ids: string[] };

export interface MessagingApi {
  /**
   * Stores the message and queues it for delivery; resolves once queued (status `queued`), not
   * when delivered: follow `onDidChange` for that.
   * @throws AppError `messaging/unknown-contact`, `messaging/invalid-text`, `messaging/unknown-message` (replyTo)
   */
  sendText(to: string, text: string, options?: { replyTo?: string }): Promise<MessageView>;
  /** Edits one of your messages. @throws AppError `messaging/unknown-message`, `messaging/not-yours`, `messaging/deleted` */
  edit(id: string, text: string): Promise<MessageView>;
  /** Deletes one of your messages for both sides (a tombstone stays). */
  delete(id: string): Promise<MessageView>;
  /** Adds (or with `remove`, takes back) a reaction to any message of a conversation. */
  react(id: string, emoji: string, options?: { remove?: boolean }): Promise<MessageView>;
  /** Marks incoming messages read up to `upTo` (default: all) and sends read receipts. Returns how many changed. */
  markRead(peer: string, upTo?: string): Promise<number>;
  /** Tells the peer you are (not) typing; best effort, never stored. */
  setTyping(peer: string, typing: boolean): Promise<void>;
  history(peer: string, options?: { before?: string; limit?: number }): Promise<HistoryPage>;
  /** Full-text search over message texts (words are AND-ed; a trailing `*` matches a prefix). */
  search(query: string, options?: { peer?: string; limit?: number }): Promise<MessageView[]>;
  conversations(): Promise<ConversationView[]>;
  message(id: string): Promise<MessageView | undefined>;
  /** Re-queues a failed message (or tries a queued one now). */
  retry(id: string): Promise<MessageView>;
  /** Tries to deliver what is queued (for one peer or all) now, ignoring backoff. */
  flush(peer?: string): Promise<void>;
  readonly onDidChange: Event<MessagingChange>;
}
