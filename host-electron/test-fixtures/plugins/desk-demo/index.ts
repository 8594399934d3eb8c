import { definePlugin } from '@discordopus/sdk';

/*
 * Used by test/desktop-web.test.ts: the shell must show this plugin's sidebar view through the
 * contribution path and run its command from the palette. The model holds markup on purpose:
 * the shell has to render it as text.
 */
export default definePlugin({
  id: 'desk-demo',
  version: '1.0.0',
  activate(ctx) {
    let clicks = 0;
    ctx.subscriptions.push(
      ctx.ui.registerView(
        { id: 'desk-demo.board', title: 'Demo board', location: 'sidebar', ariaLabel: 'Demo board from the desk-demo plugin' },
        () => ({ clicks, note: '<img src=x onerror="window.__pwned=1">', owner: ctx.identity.displayName }),
      ),
      ctx.ui.registerCommand({ id: 'desk-demo.count', title: 'Count clicks', category: 'Desk demo' }, () => ++clicks),
    );
  },
});
