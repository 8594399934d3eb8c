import { z } from 'zod';
import { AppError, Emitter, type Event } from '@discordopus/sdk';
import { HostMethod, PROFILE_CHANGED_TOPIC, type BridgeEvent, type ProfileStatus } from '../common/bridge-protocol.ts';
import { MIN_PASSPHRASE_LENGTH } from '../common/passphrase-strength.ts';
import type { ClientFactory, ClientSession } from './client-session.ts';
import { HostSettingsStore } from './host-settings-store.ts';

export interface ProfileLauncherOptions {
  profileName: string;
  profileDir: string;
  factory: ClientFactory;
  /** Server used when the profile's settings name none (the embedded server of `npm start`). */
  defaultServerUrl?: string;
}

/**
 * Client methods the bridge does not pass on: they take paths on the host's disk, which the
 * renderer must not choose (it gets `backup.download` instead).
 */
export const HOST_PATH_METHODS: ReadonlySet<string> = new Set(['backup.export']);

const passphrase = z.string().min(1, 'is empty').max(1024, 'is longer than 1024 characters');
const createParams = z.strictObject({
  passphrase: passphrase.refine((p) => [...p].length >= MIN_PASSPHRASE_LENGTH, `must have at least ${MIN_PASSPHRASE_LENGTH} characters`),
  displayName: z.string().trim().min(1, 'is empty').max(64, 'is longer than 64 characters'),
});
const unlockParams = z.strictObject({ passphrase });
const importParams = z.strictObject({
  backup: z.string().min(1).max(6 * 1024 * 1024).regex(/^[A-Za-z0-9+/=_-]+$/, 'must be base64'),
  backupPassphrase: passphrase,
  passphrase: createParams.shape.passphrase,
});

/**
 * The host before and after a client exists: it answers `profile.*` and `host.settings.*`
 * itself, opens the client on create/unlock/import, and from then on passes every other method
 * to the client's table. Events of the client and its own `profile.changed` come out of
 * {@link onEvent}. One launcher serves one profile.
 */
export class ProfileLauncher {
  private session: ClientSession | undefined;
  private unsubscribe: (() => void) | undefined;
  // Create/unlock/lock run one at a time, so two windows cannot open the database twice.
  private queue: Promise<unknown> = Promise.resolve();
  private readonly settings: HostSettingsStore;
  private readonly eventEmitter = new Emitter<BridgeEvent>();
  readonly onEvent: Event<BridgeEvent> = this.eventEmitter.event;

  constructor(private readonly options: ProfileLauncherOptions) {
    this.settings = new HostSettingsStore(options.profileDir);
  }

  get isUnlocked(): boolean {
    return this.session !== undefined;
  }

  /** Dispatches one bridge call. Throws AppError for what the user can act on. */
  async call(method: string, params: unknown): Promise<unknown> {
    switch (method) {
      case HostMethod.profileStatus:
        return this.status();
      case HostMethod.profileCreate: {
        const p = parse(createParams, params, method);
        return this.serial(() => this.open({ create: true, passphrase: p.passphrase, displayName: p.displayName }));
      }
      case HostMethod.profileUnlock: {
        const p = parse(unlockParams, params, method);
        return this.serial(() => this.open({ create: false, passphrase: p.passphrase }));
      }
      case HostMethod.profileImportBackup: {
        const p = parse(importParams, params, method);
        return this.serial(() => this.importBackup(p));
      }
      case HostMethod.profileLock:
        return this.serial(() => this.lock());
      case HostMethod.settingsGet:
        return this.settings.read();
      case HostMethod.settingsSet: {
        const next = await this.settings.update(params);
        this.eventEmitter.fire({ topic: 'host.settings.changed', payload: next });
        return next;
      }
      default:
        if (HOST_PATH_METHODS.has(method)) {
          throw new AppError('bridge/not-allowed', `${method} is not available to the app window; use backup.download.`);
        }
        if (!this.session) {
          throw new AppError('profile/locked', 'The profile is locked. Unlock it with your passphrase first.');
        }
        return this.session.call(method, params);
    }
  }

  async status(): Promise<ProfileStatus> {
    const status: ProfileStatus = {
      profileName: this.options.profileName,
      exists: this.session !== undefined || (await this.options.factory.exists(this.options.profileDir)),
      unlocked: this.session !== undefined,
    };
    if (this.session) {
      status.userId = this.session.userId;
      status.displayName = this.session.displayName;
    }
    return status;
  }

  /** Locks the profile (closes the client) and stops forwarding events. */
  async close(): Promise<void> {
    await this.serial(() => this.lock());
    this.eventEmitter.dispose();
  }

  private async open(request: { create: boolean; passphrase: string; displayName?: string }): Promise<ProfileStatus> {
    if (this.session) {
      if (request.create) throw new AppError('profile/exists', 'A profile already exists here. Lock it and choose another profile name to create a new identity.');
      return this.status();
    }
    const exists = await this.options.factory.exists(this.options.profileDir);
    if (request.create && exists) {
      throw new AppError('profile/exists', `The profile "${this.options.profileName}" already exists. Unlock it, or start with another --profile name.`);
    }
    if (!request.create && !exists) {
      throw new AppError('profile/not-found', `There is no profile "${this.options.profileName}" yet. Create an identity first.`);
    }
    const settings = await this.settings.read();
    const session = await this.options.factory.open({
      profileDir: this.options.profileDir,
      passphrase: request.passphrase,
      serverUrl: this.serverUrl(settings.serverUrl),
      stunServers: settings.stunServers,
      create: request.create,
      ...(request.displayName === undefined ? {} : { displayName: request.displayName }),
    });
    return this.attach(session);
  }

  private async importBackup(p: z.infer<typeof importParams>): Promise<ProfileStatus> {
    if (this.session || (await this.options.factory.exists(this.options.profileDir))) {
      throw new AppError('profile/exists', `The profile "${this.options.profileName}" already exists. Import the backup into a new profile (start with another --profile name).`);
    }
    const settings = await this.settings.read();
    const session = await this.options.factory.importBackup({
      profileDir: this.options.profileDir,
      passphrase: p.passphrase,
      backup: decodeBase64(p.backup),
      backupPassphrase: p.backupPassphrase,
      serverUrl: this.serverUrl(settings.serverUrl),
      stunServers: settings.stunServers,
    });
    return this.attach(session);
  }

  private async attach(session: ClientSession): Promise<ProfileStatus> {
    this.session = session;
    this.unsubscribe = session.onEvent((event) => this.eventEmitter.fire(event));
    const status = await this.status();
    this.eventEmitter.fire({ topic: PROFILE_CHANGED_TOPIC, payload: status });
    return status;
  }

  private async lock(): Promise<ProfileStatus> {
    const session = this.session;
    if (session) {
      this.session = undefined;
      this.unsubscribe?.();
      this.unsubscribe = undefined;
      await session.close();
      this.eventEmitter.fire({ topic: PROFILE_CHANGED_TOPIC, payload: await this.status() });
    }
    return this.status();
  }

  private serverUrl(configured: string): string | undefined {
    return configured !== '' ? configured : this.options.defaultServerUrl;
  }

  private serial<T>(task: () => Promise<T>): Promise<T> {
    const run = this.queue.then(task, task);
    this.queue = run.catch(() => undefined);
    return run;
  }
}

function parse<T>(schema: z.ZodType<T>, params: unknown, method: string): T {
  const parsed = schema.safeParse(params ?? {});
  if (!parsed.success) {
    const why = parsed.error.issues.map((issue) => `${issue.path.join('.') || 'params'} ${issue.message}`).join('; ');
    throw new AppError('bridge/invalid-params', `${method}: ${why}.`);
  }
  return parsed.data;
}

function decodeBase64(text: string): Uint8Array {
  return new Uint8Array(Buffer.from(text, /[-_]/.test(text) ? 'base64url' : 'base64'));
}
