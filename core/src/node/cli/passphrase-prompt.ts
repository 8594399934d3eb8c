import { AppError } from '@discordopus/sdk';

export interface PassphraseSource {
  /** Environment variable read first. */
  envVar: string;
  /** Prompt shown on the terminal. */
  prompt: string;
  /** Ask twice on a terminal (for a new passphrase) and refuse if they differ. */
  confirm?: boolean;
}

/**
 * The passphrase from `envVar`, or typed on the terminal without echo.
 * @throws AppError `cli/no-passphrase` (no variable and no terminal), `cli/passphrase-mismatch`
 */
export async function readPassphrase(source: PassphraseSource, env: NodeJS.ProcessEnv = process.env): Promise<string> {
  const fromEnv = env[source.envVar];
  if (fromEnv !== undefined && fromEnv !== '') return fromEnv;
  if (!process.stdin.isTTY || !process.stderr.isTTY) {
    throw new AppError('cli/no-passphrase', `No passphrase: set ${source.envVar} or run the command in a terminal to type it.`);
  }
  const first = await promptHidden(source.prompt);
  if (!source.confirm) return first;
  const second = await promptHidden('Repeat it: ');
  if (first !== second) throw new AppError('cli/passphrase-mismatch', 'The two passphrases differ; run the command again.');
  return first;
}

/** Reads one line from the terminal in raw mode, echoing nothing. */
function promptHidden(prompt: string): Promise<string> {
  const stdin = process.stdin;
  // Raw mode (no echo) before the prompt appears, so nothing typed after it can be echoed.
  stdin.setRawMode(true);
  process.stderr.write(prompt);
  return new Promise((resolve, reject) => {
    let typed = '';
    const done = (error?: Error) => {
      stdin.off('data', onData);
      stdin.setRawMode(false);
      stdin.pause();
      process.stderr.write('\n');
      if (error) reject(error);
      else resolve(typed);
    };
    const onData = (chunk: Buffer) => {
      for (const char of chunk.toString('utf8')) {
        if (char === '\r' || char === '\n') return done();
        if (char === '\u0003') return done(new AppError('cli/cancelled', 'Cancelled.'));
        if (char === '\u0004' && typed === '') return done(new AppError('cli/cancelled', 'Cancelled.'));
        if (char === '\u007f' || char === '\b') typed = [...typed].slice(0, -1).join('');
        else if (char >= ' ') typed += char;
      }
    };
    stdin.resume();
    stdin.on('data', onData);
  });
}
