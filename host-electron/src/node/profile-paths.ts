import os from 'node:os';
import path from 'node:path';

const PROFILE_NAME = /^[a-zA-Z0-9][a-zA-Z0-9_-]{0,31}$/;

/** The folder holding all profiles: `$DISCORDOPUS_HOME/profiles` or `~/.discordopus/profiles`. */
export function profilesRoot(env: NodeJS.ProcessEnv = process.env): string {
  const home = env.DISCORDOPUS_HOME && env.DISCORDOPUS_HOME.length > 0 ? env.DISCORDOPUS_HOME : path.join(os.homedir(), '.discordopus');
  return path.join(home, 'profiles');
}

/**
 * The folder of the profile `name`.
 * @throws RangeError when the name is not 1-32 characters of letters, digits, `_` and `-`
 *   (so a name can never climb out of the profiles folder).
 */
export function profileDirFor(name: string, env: NodeJS.ProcessEnv = process.env): string {
  if (!PROFILE_NAME.test(name)) {
    throw new RangeError(`profileDirFor: profile name must be 1-32 letters, digits, "_" or "-", starting with a letter or digit; got "${name}"`);
  }
  return path.join(profilesRoot(env), name);
}
