import type { CommandContribution, Presence, SettingContribution, ViewContribution } from '@discordopus/sdk';
import { HostMethod, type BridgeClient, type ProfileStatus } from './bridge-protocol.ts';
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
} as const;

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
