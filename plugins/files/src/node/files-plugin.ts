import { definePlugin } from '@discordopus/sdk';
import type { FilesApi } from '../common/files-api.ts';
import { filesMigrations } from './files-migrations.ts';
import { FilesService, SETTINGS, type FilesServiceOptions } from './files-service.ts';

const SEND_COMMAND = { id: 'files.send', title: 'Send a file', category: 'Files' };
const TRANSFERS_VIEW = {
  id: 'files.transfers', title: 'Transfers', location: 'panel' as const, component: 'files.Transfers', ariaLabel: 'File transfers',
};
const AUTO_ACCEPT = {
  key: SETTINGS.autoAccept, title: 'Accept files automatically', type: 'enum' as const, default: 'off', options: ['off', 'verified', 'contacts'],
  description: 'Accept incoming files without asking: from verified contacts only, or from all contacts (up to the size below).',
};
const AUTO_ACCEPT_MAX = {
  key: SETTINGS.autoAcceptMaxMiB, title: 'Largest file accepted automatically (MiB)', type: 'number' as const, default: 100,
};
const DOWNLOAD_DIR = {
  key: SETTINGS.downloadDir, title: 'Save received files in', type: 'string' as const, default: '',
  description: 'A folder; empty means Downloads in your home folder.',
};

/** Builds the files plugin; tests pass a failing file system, smaller chunks or shorter retries. */
export function createFilesPlugin(options: FilesServiceOptions = {}) {
  let service: FilesService | undefined;
  return definePlugin<FilesApi>({
    id: 'files',
    version: '0.1.0',
    displayName: 'Files',
    description: 'End-to-end encrypted peer-to-peer file transfer of any size: resumable, verified, with progress.',
    engines: { sdk: '^0.1.0' },
    permissions: { contacts: true, peers: true, files: true },
    contributes: { commands: [SEND_COMMAND], views: [TRANSFERS_VIEW], settings: [AUTO_ACCEPT, AUTO_ACCEPT_MAX, DOWNLOAD_DIR] },
    migrations: filesMigrations,
    async activate(ctx) {
      const files = new FilesService(ctx, options);
      service = files;
      ctx.subscriptions.push(files);
      ctx.subscriptions.push(ctx.ui.registerCommand(SEND_COMMAND, async (to, file) => {
        if (typeof to !== 'string' || typeof file !== 'string') throw new TypeError('files.send: expected (userIdOrName: string, path: string)');
        return files.send(to, file);
      }));
      ctx.subscriptions.push(ctx.ui.registerView(TRANSFERS_VIEW, () => files.list()));
      await files.start();
      return files;
    },
    async deactivate() {
      await service?.stop();
      service = undefined;
    },
  });
}

/** The first-party files plugin. */
export const filesPlugin = createFilesPlugin();
