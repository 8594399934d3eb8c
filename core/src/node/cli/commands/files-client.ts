import { AppError } from '@discordopus/sdk';
import type { FilesApi } from '@discordopus/plugin-files';
import type { DiscordOpusClient } from '../../client/create-client.ts';

/** The running files plugin's API. @throws AppError `files/unavailable` when it did not start. */
export function filesOf(client: DiscordOpusClient): FilesApi {
  const api = client.kernel.pluginApi<FilesApi>('files');
  if (api) return api;
  const status = client.kernel.plugins().find((p) => p.id === 'files');
  const why = status?.error ? `${status.error.code}: ${status.error.message}` : status ? `it is ${status.state}` : 'it is not installed';
  throw new AppError('files/unavailable', `File transfer is not available in this profile (${why}).`);
}
