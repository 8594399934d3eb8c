import type { CommandContribution, Presence, SettingContribution, ViewContribution } from '@discordopus/sdk';
import type { ConversationView, HistoryPage, MessageView, MessagingChange } from '@discordopus/plugin-messaging';
import type { Transfer as TransferView } from '@discordopus/plugin-files';
import { DesktopMethod, HostMethod, type BridgeClient, type ProfileStatus } from './bridge-protocol.ts';
import type { HostSettings, HostSettingsPatch } from './host-settings.ts';

/*
 * The renderer's typed view of the bridge: the host's profile methods and the client's method
 * table (the same names the daemon serves). Every method name the renderer uses is here, so
 * the screens never spell one.
 */

export const ClientMethod = {
  identityGet: 'identity.get',
  contactsList: 'contacts.list',
  contactsAdd: 'contacts.add',
  contactsVerify: 'contacts.verify',
  contactsAcceptIdentityChange: 'contacts.acceptIdentityChange',
  safetyNumberGet: 'safetyNumber.get',
  pluginsList: 'plugins.list',
  contributionsList: 'contributions.list',
  commandsExecute: 'commands.execute',
  viewsGetModel: 'views.getModel',
  backupDownload: 'backup.download',
  messagingConversations: 'messaging.conversations',
  messagingHistory: 'messaging.history',
  messagingSend: 'messaging.send',
  messagingEdit: 'messaging.edit',
  messagingDelete: 'messaging.delete',
  messagingReact: 'messaging.react',
  messagingMarkRead: 'messaging.markRead',
  messagingSetTyping: 'messaging.setTyping',
  messagingSearch: 'messaging.search',
  messagingRetry: 'messaging.retry',
  filesList: 'files.list',
  filesAccept: 'files.accept',
  filesDecline: 'files.decline',
  filesCancel: 'files.cancel',
} as const;

export type { ConversationView, HistoryPage, MessageView, MessagingChange, TransferView };

/** Topic of the host event that carries a {@link TransferView} (progress and state changes). */
export const FILES_TRANSFER_TOPIC = 'files.transfer';

/** Topic of the host event that carries a {@link MessagingChange} (new message, status, edit, typing...). */
export const MESSAGING_CHANGED_TOPIC = 'messaging.changed';

export interface ContactView {
  userId: string;
  name: string;
  verified: boolean;
  identityChanged: boolean;
  presence: Presence;
  /** False until the contact's identity key is known (it comes with the first session). */
  hasIdentityKey: boolean;
}

export interface IdentityView {
  userId: string;
  displayName: string;
  /** Ed25519 public key, 64 hex digits. */
  publicKey: string;
}

export interface SafetyNumberView {
  digits: string;
  groups: string[];
  payload: string;
}

export interface PluginView {
  id: string;
  version: string;
  displayName?: string;
  state: string;
  firstParty: boolean;
  permissions: Record<string, unknown>;
  error?: { code: string; message: string };
}

export interface ContributionsView {
  commands: CommandContribution[];
  views: ViewContribution[];
  settings: SettingContribution[];
}

export class ClientApi {
  constructor(readonly bridge: BridgeClient) {}

  profileStatus(): Promise<ProfileStatus> {
    return this.bridge.call(HostMethod.profileStatus);
  }
  createProfile(displayName: string, passphrase: string): Promise<ProfileStatus> {
    return this.bridge.call(HostMethod.profileCreate, { displayName, passphrase });
  }
  unlock(passphrase: string): Promise<ProfileStatus> {
    return this.bridge.call(HostMethod.profileUnlock, { passphrase });
  }
  importBackup(backup: string, backupPassphrase: string, passphrase: string): Promise<ProfileStatus> {
    return this.bridge.call(HostMethod.profileImportBackup, { backup, backupPassphrase, passphrase });
  }
  lock(): Promise<ProfileStatus> {
    return this.bridge.call(HostMethod.profileLock);
  }
  hostSettings(): Promise<HostSettings> {
    return this.bridge.call(HostMethod.settingsGet);
  }
  updateHostSettings(patch: HostSettingsPatch): Promise<HostSettings> {
    return this.bridge.call(HostMethod.settingsSet, patch);
  }

  async contacts(): Promise<ContactView[]> {
    const list = await this.bridge.call<unknown>(ClientMethod.contactsList);
    const items = Array.isArray(list) ? list : Array.isArray((list as { contacts?: unknown })?.contacts) ? (list as { contacts: unknown[] }).contacts : [];
    return items.map(toContactView);
  }
  identity(): Promise<IdentityView> {
    return this.bridge.call(ClientMethod.identityGet);
  }
  /** Adds a contact; `identityKey` (64 hex digits) comes from a scanned contact code. */
  async addContact(userId: string, options: { name?: string | undefined; identityKey?: string | undefined } = {}): Promise<void> {
    await this.bridge.call(ClientMethod.contactsAdd, {
      userId,
      ...(options.name ? { name: options.name } : {}),
      ...(options.identityKey ? { identityKey: options.identityKey } : {}),
    });
  }
  async verifyContact(userId: string): Promise<void> {
    await this.bridge.call(ClientMethod.contactsVerify, { contact: userId });
  }
  async acceptIdentityChange(userId: string): Promise<void> {
    await this.bridge.call(ClientMethod.contactsAcceptIdentityChange, { contact: userId });
  }
  async safetyNumber(userId: string): Promise<SafetyNumberView> {
    const raw = await this.bridge.call<Partial<SafetyNumberView>>(ClientMethod.safetyNumberGet, { contact: userId });
    const digits = String(raw?.digits ?? '').replace(/\D/g, '');
    return { digits, groups: raw?.groups ?? digits.match(/\d{5}/g) ?? [], payload: String(raw?.payload ?? '') };
  }
  async plugins(): Promise<PluginView[]> {
    const list = await this.bridge.call<unknown>(ClientMethod.pluginsList);
    return Array.isArray(list) ? (list as PluginView[]) : [];
  }
  async contributions(): Promise<ContributionsView> {
    const raw = await this.bridge.call<Partial<ContributionsView> | undefined>(ClientMethod.contributionsList);
    return { commands: raw?.commands ?? [], views: raw?.views ?? [], settings: raw?.settings ?? [] };
  }
  executeCommand(id: string, args: unknown[] = []): Promise<unknown> {
    return this.bridge.call(ClientMethod.commandsExecute, { id, args });
  }
  /** An encrypted backup of the identity and contacts, as base64 bytes with a suggested file name. */
  downloadBackup(passphrase: string): Promise<{ fileName: string; data: string }> {
    return this.bridge.call(ClientMethod.backupDownload, { passphrase });
  }
  viewModel(id: string): Promise<unknown> {
    return this.bridge.call(ClientMethod.viewsGetModel, { id });
  }

  conversations(): Promise<ConversationView[]> {
    return this.bridge.call(ClientMethod.messagingConversations, {});
  }
  /** One page of a conversation, oldest first; pass the page's `before` for the older one. */
  history(contact: string, options: { before?: string | undefined; limit?: number } = {}): Promise<HistoryPage> {
    return this.bridge.call(ClientMethod.messagingHistory, { contact, ...(options.before ? { before: options.before } : {}), ...(options.limit ? { limit: options.limit } : {}) });
  }
  sendMessage(contact: string, text: string, replyTo?: string): Promise<MessageView> {
    return this.bridge.call(ClientMethod.messagingSend, { contact, text, ...(replyTo ? { replyTo } : {}) });
  }
  editMessage(id: string, text: string): Promise<MessageView> {
    return this.bridge.call(ClientMethod.messagingEdit, { id, text });
  }
  deleteMessage(id: string): Promise<MessageView> {
    return this.bridge.call(ClientMethod.messagingDelete, { id });
  }
  react(id: string, emoji: string, remove = false): Promise<MessageView> {
    return this.bridge.call(ClientMethod.messagingReact, { id, emoji, ...(remove ? { remove } : {}) });
  }
  async markRead(contact: string): Promise<number> {
    const answer = await this.bridge.call<{ marked?: number }>(ClientMethod.messagingMarkRead, { contact });
    return answer?.marked ?? 0;
  }
  async setTyping(contact: string, typing: boolean): Promise<void> {
    await this.bridge.call(ClientMethod.messagingSetTyping, { contact, typing });
  }
  searchMessages(query: string, contact?: string): Promise<MessageView[]> {
    return this.bridge.call(ClientMethod.messagingSearch, { query, ...(contact ? { contact } : {}), limit: 50 });
  }
  retryMessage(id: string): Promise<MessageView> {
    return this.bridge.call(ClientMethod.messagingRetry, { id });
  }

  transfers(): Promise<TransferView[]> {
    return this.bridge.call(ClientMethod.filesList, {});
  }
  acceptTransfer(transferId: string): Promise<TransferView> {
    return this.bridge.call(ClientMethod.filesAccept, { transferId });
  }
  declineTransfer(transferId: string): Promise<TransferView> {
    return this.bridge.call(ClientMethod.filesDecline, { transferId });
  }
  cancelTransfer(transferId: string): Promise<TransferView> {
    return this.bridge.call(ClientMethod.filesCancel, { transferId });
  }
  /**
   * Offers a file the user picked or dropped. Under Electron the preload hands its path to main;
   * in a browser the bytes are uploaded in chunks to the host's staging folder first.
   */
  async sendFile(contact: string, file: File, onUpload?: (fraction: number) => void): Promise<{ transferId: string }> {
    if (this.bridge.sendFile) return this.bridge.sendFile(file, contact);
    const { uploadId } = await this.bridge.call<{ uploadId: string }>(HostMethod.filesStageBegin, { name: file.name, size: file.size });
    try {
      for (let offset = 0; offset < file.size; offset += UPLOAD_CHUNK_BYTES) {
        const bytes = new Uint8Array(await file.slice(offset, offset + UPLOAD_CHUNK_BYTES).arrayBuffer());
        await this.bridge.call(HostMethod.filesStageChunk, { uploadId, offset, data: toBase64(bytes) });
        onUpload?.(Math.min(1, (offset + bytes.byteLength) / file.size));
      }
      return await this.bridge.call(HostMethod.filesStageSend, { uploadId, contact });
    } catch (error) {
      await this.bridge.call(HostMethod.filesStageCancel, { uploadId }).catch(() => undefined);
      throw error;
    }
  }
  /** Electron only: opens a received file with the system's app, or shows it in its folder. */
  async showFile(transferId: string, how: 'open' | 'reveal'): Promise<void> {
    await this.bridge.call(how === 'open' ? DesktopMethod.filesOpen : DesktopMethod.filesReveal, { transferId });
  }
}

/** Bytes per upload call: 1 MiB (about 1.4 MB of base64 on the bridge). */
const UPLOAD_CHUNK_BYTES = 1024 * 1024;

function toBase64(bytes: Uint8Array): string {
  let binary = '';
  for (let i = 0; i < bytes.length; i += 0x8000) binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(binary);
}

function toContactView(raw: unknown): ContactView {
  const c = (raw ?? {}) as Record<string, unknown>;
  const presence = c.presence === 'online' || c.presence === 'offline' ? c.presence : 'unknown';
  return {
    userId: String(c.userId ?? ''),
    name: typeof c.name === 'string' ? c.name : '',
    verified: c.verified === true,
    identityChanged: c.identityChanged === true,
    presence,
    hasIdentityKey: typeof c.identityKey === 'string' && c.identityKey !== '',
  };
}
