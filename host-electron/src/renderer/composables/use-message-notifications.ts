import { MESSAGING_CHANGED_TOPIC } from '../../common/client-api.ts';
import { messageNotificationFor } from '../../common/message-notification.ts';
import { useBridge } from '../bridge/use-bridge.ts';
import { useBridgeEvent } from './use-bridge-event.ts';
import { useClientApi } from './use-client-api.ts';
import { useHostSettings } from './use-host-settings.ts';

/**
 * Desktop notifications for incoming messages while the window is not focused, in web mode
 * (the browser's Notification API, once the user allowed it in Settings). Under Electron the
 * main process shows them with the system's notifications, so this does nothing there.
 */
export function useMessageNotifications(onOpen: (peer: string) => void): void {
  const bridge = useBridge();
  if (bridge.nativeNotifications || typeof Notification === 'undefined') return;
  const api = useClientApi();
  const { settings, refresh } = useHostSettings();
  void refresh();

  useBridgeEvent([MESSAGING_CHANGED_TOPIC], (event) => {
    if (!settings.value || Notification.permission !== 'granted') return;
    const focused = document.visibilityState === 'visible' && document.hasFocus();
    const first = messageNotificationFor(event.payload, { settings: settings.value, focused });
    if (!first) return;
    void (async () => {
      const contact = (await api.contacts().catch(() => [])).find((c) => c.userId === first.peer);
      const shown = messageNotificationFor(event.payload, { settings: settings.value!, focused: false, senderName: contact?.name });
      if (!shown) return;
      const notification = new Notification(shown.title, { body: shown.body, tag: `dm-${shown.peer}` });
      notification.onclick = () => {
        window.focus();
        onOpen(shown.peer);
        notification.close();
      };
    })();
  });
}
