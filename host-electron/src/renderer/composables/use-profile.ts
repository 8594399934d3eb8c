import { ref } from 'vue';
import { PROFILE_CHANGED_TOPIC, type ProfileStatus } from '../../common/bridge-protocol.ts';
import { errorText } from './error-text.ts';
import { useBridgeEvent } from './use-bridge-event.ts';
import { useClientApi } from './use-client-api.ts';

/** The profile's state (exists / locked / unlocked) and the actions that change it. */
export function useProfile() {
  const api = useClientApi();
  const status = ref<ProfileStatus | undefined>();
  const loadError = ref<string | undefined>();

  async function refresh(): Promise<void> {
    try {
      status.value = await api.profileStatus();
      loadError.value = undefined;
    } catch (error) {
      loadError.value = errorText(error);
    }
  }

  useBridgeEvent([PROFILE_CHANGED_TOPIC], (event) => {
    status.value = event.payload as ProfileStatus;
  });

  async function apply(action: Promise<ProfileStatus>): Promise<void> {
    status.value = await action;
  }

  return {
    status,
    loadError,
    refresh,
    create: (displayName: string, passphrase: string) => apply(api.createProfile(displayName, passphrase)),
    unlock: (passphrase: string) => apply(api.unlock(passphrase)),
    importBackup: (backup: string, backupPassphrase: string, passphrase: string) => apply(api.importBackup(backup, backupPassphrase, passphrase)),
    lock: () => apply(api.lock()),
  };
}
