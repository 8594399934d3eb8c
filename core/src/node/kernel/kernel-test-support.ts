/*
 * Real parts for the kernel's tests: an encrypted temp profile database, a logger that keeps
 * its lines, and small in-memory implementations of the services other engineers provide
 * (the real SecureChannels needs peers; here messages loop back to the local handlers).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import {
  AppError, ContactsService, Emitter, IdentityInfo, SecureChannels, toDisposable, userIdFromPublicKey,
  type Contact, type Disposable, type LinkState, type Logger, type MessageHandler, type PeerMessage, type Presence, type SendReceipt,
  type StoringMessageHandler, type UserId,
} from '@discordopus/sdk';
import type { Container } from 'inversify';
import { NodeCryptoProvider } from '../crypto/node-crypto-provider.ts';
import { openProfileDatabase, type ProfileDatabase } from '../storage/profile-database.ts';
import { createLogger } from './create-logger.ts';
import { Kernel, type KernelOptions } from './kernel.ts';

export interface TempProfile {
  dir: string;
  database: ProfileDatabase;
  /** Closes and opens the same profile again (for restart tests). */
  reopen(): Promise<ProfileDatabase>;
  /** Closes the database and deletes the folder. */
  cleanup(): Promise<void>;
}

const PASSPHRASE = 'kernel test passphrase';
// Cheap scrypt: these tests are about the kernel, not the KDF.
const KDF = { N: 2 ** 10, r: 8, p: 1 };

export async function openTempProfile(): Promise<TempProfile> {
  const dir = mkdtempSync(path.join(tmpdir(), 'discordopus-kernel-'));
  const crypto = new NodeCryptoProvider();
  const profile: TempProfile = {
    dir,
    database: await openProfileDatabase({ dir, passphrase: PASSPHRASE, crypto, create: true, kdf: KDF }),
    async reopen() {
      await profile.database.close();
      profile.database = await openProfileDatabase({ dir, passphrase: PASSPHRASE, crypto });
      return profile.database;
    },
    async cleanup() {
      await profile.database.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
  return profile;
}

export interface CapturedLogger {
  logger: Logger;
  /** Every line written so far, parsed. */
  lines: Record<string, unknown>[];
  /** The raw text written so far. */
  text(): string;
}

export function captureLogger(level = 'debug'): CapturedLogger {
  const chunks: string[] = [];
  const stream = new Writable({
    write(chunk, _encoding, done) {
      chunks.push(String(chunk));
      done();
    },
  });
  const logger = createLogger({ level, destination: stream });
  return {
    logger,
    get lines() {
      return chunks.join('').split('\n').filter((l) => l.length > 0).map((l) => JSON.parse(l) as Record<string, unknown>);
    },
    text: () => chunks.join(''),
  };
}

export const ALICE = userIdFromPublicKey(new Uint8Array(32).fill(1));
export const BOB = userIdFromPublicKey(new Uint8Array(32).fill(2));

/**
 * The channel handlers of a test SecureChannels. There is no receive transaction in a test
 * transport, so a storing handler gets each message without a store step, as from the kernel's inbox.
 */
export class TestChannelHandlers {
  private readonly byName = new Map<string, Set<MessageHandler | StoringMessageHandler>>();

  add(name: string, handler: MessageHandler | StoringMessageHandler): Disposable {
    let set = this.byName.get(name);
    if (!set) this.byName.set(name, (set = new Set()));
    set.add(handler);
    return toDisposable(() => set.delete(handler));
  }

  /** Runs the channel's handlers one after the other. */
  async deliver(message: PeerMessage): Promise<void> {
    for (const handler of [...(this.byName.get(message.channel) ?? [])]) {
      await (typeof handler === 'function' ? handler(message) : handler.handle(message, undefined));
    }
  }

  count(name: string): number {
    return this.byName.get(name)?.size ?? 0;
  }
}

/** SecureChannels whose `send` delivers to the local handler of the same channel, as if from `to`. */
export class LoopbackChannels implements SecureChannels {
  readonly maxMessageBytes = 65_536;
  /** Channel names as they reached this service (prefixed by the kernel). */
  readonly sent: string[] = [];
  private readonly handlers = new TestChannelHandlers();
  private readonly linkChanged = new Emitter<{ userId: UserId; state: LinkState }>();
  readonly onDidChangeLinkState = this.linkChanged.event;

  onMessage(name: string, handler: MessageHandler | StoringMessageHandler): Disposable {
    return this.handlers.add(name, handler);
  }

  async send(to: UserId, name: string, data: Uint8Array): Promise<SendReceipt> {
    this.sent.push(name);
    await this.handlers.deliver({ from: to, channel: name, data, receivedAt: Date.now() });
    return { stored: false };
  }

  linkState(): LinkState {
    return 'connected';
  }

  handlerCount(name: string): number {
    return this.handlers.count(name);
  }
}

/** A fixed contact list. */
export class ListContacts implements ContactsService {
  private readonly changed = new Emitter<Contact>();
  readonly onDidChange = this.changed.event;
  private readonly presenceChanged = new Emitter<{ userId: UserId; presence: Presence }>();
  readonly onDidChangePresence = this.presenceChanged.event;

  constructor(private readonly contacts: Contact[]) {}

  async list(): Promise<Contact[]> {
    return [...this.contacts];
  }

  async get(userId: UserId): Promise<Contact | undefined> {
    return this.contacts.find((c) => c.userId === userId);
  }

  async resolve(text: string): Promise<Contact> {
    const found = this.contacts.find((c) => c.userId === text || c.name === text);
    if (!found) throw new AppError('contacts/not-found', `No contact "${text}".`);
    return found;
  }

  presence(): Presence {
    return 'unknown';
  }
}

export interface TestServices {
  channels: LoopbackChannels;
  contacts: ListContacts;
  bind(container: Container): void;
}

export function testServices(): TestServices {
  const channels = new LoopbackChannels();
  const contacts = new ListContacts([{ userId: BOB, name: 'bob', verified: true, identityChanged: false, addedAt: 1 }]);
  const identity: IdentityInfo = { userId: ALICE, publicKey: new Uint8Array(32).fill(1), displayName: 'Alice' };
  return {
    channels,
    contacts,
    bind(container) {
      container.bind(IdentityInfo).toConstantValue(identity);
      container.bind(ContactsService).toConstantValue(contacts);
      container.bind(SecureChannels).toConstantValue(channels);
    },
  };
}

/** Starts a kernel on `profile` with the test services; `overrides` replace any option. */
export async function startKernel(profile: TempProfile, overrides: Partial<KernelOptions> & { services?: TestServices } = {}): Promise<{ kernel: Kernel; services: TestServices; log: CapturedLogger }> {
  const { services: given, ...options } = overrides;
  const services = given ?? testServices();
  const log = captureLogger();
  const kernel = await Kernel.start({
    profileDir: profile.dir,
    db: profile.database.db,
    deferredSync: profile.database.deferredSync,
    logger: log.logger,
    bind: services.bind,
    plugins: [],
    ...options,
  });
  return { kernel, services, log };
}
