import { createApp } from 'vue';
import App from './App.vue';
import { BridgeKey } from './bridge/use-bridge.ts';
import { createBridge } from './bridge/create-bridge.ts';
import './styles.css';

const app = createApp(App);
try {
  app.provide(BridgeKey, createBridge(window));
  app.mount('#app');
} catch (error) {
  // No bridge (e.g. the page opened without its token): say what to do instead of a blank page.
  const message = document.createElement('p');
  message.setAttribute('role', 'alert');
  message.className = 'fatal';
  message.textContent = error instanceof Error ? error.message : String(error);
  document.getElementById('app')!.replaceChildren(message);
}
