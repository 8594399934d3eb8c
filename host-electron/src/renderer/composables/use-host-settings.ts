import { ref } from 'vue';
import type { HostSettings, HostSettingsPatch } from '../../common/host-settings.ts';
import { errorText } from './error-text.ts';
import { useBridgeEvent } from './use-bridge-event.ts';
import { useClientApi } from './use-client-api.ts';

/** The host settings (server, STUN, theme, notifications); the theme is applied to the document. */
export function useHostSettings() {
  const api = useClientApi();
  const settings = ref<HostSettings | undefined>();
  const error = ref<string | undefined>();

  function applyTheme(value: HostSettings | undefined): void {
    if (value && typeof document !== 'undefined') document.documentElement.dataset.theme = value.theme;
  }

  async function refresh(): Promise<void> {
    try {
      settings.value = await api.hostSettings();
      applyTheme(settings.value);
      error.value = undefined;
    } catch (e) {
      error.value = errorText(e);
    }
  }

  useBridgeEvent(['host.settings.changed'], (event) => {
    settings.value = event.payload as HostSettings;
    applyTheme(settings.value);
  });

  async function update(patch: HostSettingsPatch): Promise<void> {
    settings.value = await api.updateHostSettings(patch);
    applyTheme(settings.value);
  }

  return { settings, error, refresh, update };
}
