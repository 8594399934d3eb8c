import { describe, expect, it } from 'vitest';
import { desktopHostArgv, parseWebHostArgs } from './web-host.ts';

describe('desktopHostArgv', () => {
  it('drops the executable, the app path when unpackaged, and the switches launchers and debuggers add', () => {
    const flags = ['--js-flags=--max-semi-space-size=2', '--inspect=9229'];
    expect(desktopHostArgv(['/opt/electron', '/app/main.js', ...flags, '--profile', 'bob'], true)).toEqual(['--profile', 'bob']);
    expect(desktopHostArgv(['/opt/DiscordOpus/discordopus', ...flags, '--profile', 'bob'], false)).toEqual(['--profile', 'bob']);
    expect(parseWebHostArgs(desktopHostArgv(['/opt/DiscordOpus/discordopus', ...flags], false)).profile).toBe('default');
  });
});

describe('parseWebHostArgs', () => {
  it('defaults to the "default" profile, any port and the embedded server', () => {
    expect(parseWebHostArgs([])).toEqual({ profile: 'default', port: 0, server: undefined, pluginDir: undefined });
  });

  it('reads --profile, --port, --server and --plugin-dir', () => {
    expect(parseWebHostArgs(['--profile', 'bob', '--port', '8123', '--server', 'https://s.example.org', '--plugin-dir', '/p'])).toEqual({
      profile: 'bob', port: 8123, server: 'https://s.example.org', pluginDir: '/p',
    });
  });

  it.each([
    [['--port', '70000'], /--port must be/],
    [['--port', 'abc'], /--port must be/],
    [['--server', 'localhost'], /--server must be/],
    [['--bogus'], /Unknown option/],
    [['extra'], /positional/],
    [['--help'], /Usage:/],
  ])('refuses %j', (argv, message) => {
    expect(() => parseWebHostArgs(argv)).toThrow(message);
  });
});
