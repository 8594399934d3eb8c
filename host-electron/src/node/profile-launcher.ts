import path from 'node:path';
import { z } from 'zod';
import { AppError, Emitter, type Event } from '@discordopus/sdk';
import { HostMethod, PROFILE_CHANGED_TOPIC, type BridgeEvent, type ProfileStatus } from '../common/bridge-protocol.ts';
import { MIN_PASSPHRASE_LENGTH } from '../common/passphrase-strength.ts';
import type { ClientFactory, ClientSession } from './client-session.ts';
import { FileStaging, MAX_STAGE_CHUNK_BYTES } from './file-staging.ts';
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
export const HOST_PATH_METHODS: ReadonlySet<string> = new Set(['backup.export', 'files.send']);

/** Plugin commands that take host paths (the same reason): refused through `commands.execute`. */
export const HOST_PATH_COMMANDS: ReadonlySet<string> = new Set(['files.send']);

/** States after which a transfer never reads its source file again. */
const FINISHED_TRANSFER_STATES: ReadonlySet<unknown> = new Set(['completed', 'cancelled', 'declined']);

const passphrase = z.string().min(1, 'is empty').max(1024, 'is longer than 1024 characters');
const createParams = z.strictObject({
  passphrase: passphrase.refine((p) => [...p].length >= MIN_PASSPHRASE_LENGTH, `must have at least ${MIN_PASSPHRASE_LENGTH} characters`),
  displayName: z.string().trim().min(1, 'is empty').max(64, 'is longer than 64 characters'),
});
const unlockParams = z.strictObject({ passphrase });
const uploadId = z.string().regex(/^[0-9a-f]{32}$/, 'must be an upload id');
const stageBeginParams = z.strictObject({ name: z.string().min(1).max(1000), size: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER) });
const stageChunkParams = z.strictObject({
  uploadId, offset: z.number().int().min(0),
  data: z.string().max(Math.ceil(MAX_STAGE_CHUNK_BYTES / 3) * 4).regex(/^[A-Za-z0-9+/]*={0,2}$/, 'must be base64'),
});
const stageSendParams = z.strictObject({ uploadId, contact: z.string().trim().min(1).max(200) });
const stageCancelParams = z.strictObject({ uploadId });
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
  private readonly staging: FileStaging;
  private readonly eventEmitter = new Emitter<BridgeEvent>();
  readonly onEvent: Event<BridgeEvent> = this.eventEmitter.event;

  constructor(private readonly options: ProfileLauncherOptions) {
    this.settings = new HostSettingsStore(options.profileDir);
    this.staging = new FileStaging(path.join(options.profileDir, 'staging'));
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
      case HostMethod.filesStageBegin: {
        const p = parse(stageBeginParams, params, method);
        this.requireSession();
        return { uploadId: await this.staging.begin(p.name, p.size) };
      }
      case HostMethod.filesStageChunk: {
        const p = parse(stageChunkParams, params, method);
        return { received: await this.staging.chunk(p.uploadId, p.offset, new Uint8Array(Buffer.from(p.data, 'base64'))) };
      }
      case HostMethod.filesStageSend: {
        const p = parse(stageSendParams, params, method);
        const file = await this.staging.finish(p.uploadId);
        try {
          return await this.requireSession().call('files.send', { contact: p.contact, path: file });
        } catch (error) {
          await this.staging.release(file);
          throw error;
        }
      }
      case HostMethod.filesStageCancel: {
        const p = parse(stageCancelParams, params, method);
        await this.staging.discard(p.uploadId);
        return {};
      }
      default:
        if (HOST_PATH_METHODS.has(method)) {
          throw new AppError('bridge/not-allowed', `${method} is not available to the app window: it names files on the host. ${method === 'files.send' ? 'Drop or pick the file in the app instead.' : 'Use backup.download.'}`);
        }
        if (method === 'commands.execute' && HOST_PATH_COMMANDS.has(String((params as { id?: unknown } | undefined)?.id))) {
          throw new AppError('bridge/not-allowed', 'That command names files on the host; drop or pick the file in the app instead.');
        }
        if (method === 'files.accept' && params && typeof params === 'object' && 'dir' in params) {
          throw new AppError('bridge/not-allowed', 'The app window cannot choose where files are saved; set the download folder in Settings.');
        }
        return this.requireSession().call(method, params);
    }
  }

  /**
   * A call from the host itself (Electron main), which may name host paths: a file the user
   * dropped, whose path the preload read from the File object.
   */
  async callTrusted(method: string, params: unknown): Promise<unknown> {
    return this.requireSession().call(method, params);
  }

  private requireSession(): ClientSession {
    if (!this.session) throw new AppError('profile/locked', 'The profile is locked. Unlock it with your passphrase first.');
    return this.session;
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
      turnServer: settings.turnServers[0],
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
      turnServer: settings.turnServers[0],
    });
    return this.attach(session);
  }

  private async attach(session: ClientSession): Promise<ProfileStatus> {
    this.session = session;
    this.unsubscribe = session.onEvent((event) => {
      if (event.topic === 'files.transfer') this.releaseStaged(event.payload);
      this.eventEmitter.fire(event);
    });
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
      await this.staging.close();
      this.eventEmitter.fire({ topic: PROFILE_CHANGED_TOPIC, payload: await this.status() });
    }
    return this.status();
  }

  private releaseStaged(payload: unknown): void {
    const t = payload as { direction?: unknown; state?: unknown; path?: unknown } | undefined;
    if (t?.direction === 'out' && FINISHED_TRANSFER_STATES.has(t.state) && typeof t.path === 'string' && this.staging.owns(t.path)) {
      void this.staging.release(t.path).catch(() => undefined);
    }
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
