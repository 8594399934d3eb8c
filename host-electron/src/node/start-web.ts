import { parseWebHostArgs, startWebHost, type WebHostArgs } from './web-host.ts';

/* Entry point of `npm run start:web`; see web-host.ts. */

async function main(): Promise<void> {
  const log = (line: string) => process.stderr.write(`${line}\n`);
  let args: WebHostArgs;
  try {
    args = parseWebHostArgs(process.argv.slice(2));
  } catch (error) {
    log((error as Error).message);
    process.exit(2);
  }
  const host = await startWebHost(args, log);
  log('Open this address in a browser (keep it private: it grants access to the profile):');
  process.stdout.write(`${host.url}\n`);
  let stopping = false;
  const stop = () => {
    if (stopping) return;
    stopping = true;
    host.stop().then(() => process.exit(0), (error) => {
      log(`error while stopping: ${String(error)}`);
      process.exit(1);
    });
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}

main().catch((error) => {
  process.stderr.write(`error: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
