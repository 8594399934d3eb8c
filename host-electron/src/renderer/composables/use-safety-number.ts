import { ref, watch, type Ref } from 'vue';
import QRCode from 'qrcode';
import type { SafetyNumberView } from '../../common/client-api.ts';
import { errorText } from './error-text.ts';
import { useClientApi } from './use-client-api.ts';

/** The safety number with a contact, and its QR code as an SVG data URL (rendered by <img>, never as HTML). */
export function useSafetyNumber(userId: Ref<string | undefined>) {
  const api = useClientApi();
  const safetyNumber = ref<SafetyNumberView | undefined>();
  const qrDataUrl = ref<string | undefined>();
  const error = ref<string | undefined>();
  const loading = ref(false);

  async function load(id: string | undefined): Promise<void> {
    safetyNumber.value = undefined;
    qrDataUrl.value = undefined;
    error.value = undefined;
    if (!id) return;
    loading.value = true;
    try {
      const number = await api.safetyNumber(id);
      if (userId.value !== id) return;
      safetyNumber.value = number;
      if (number.payload) {
        const svg = await QRCode.toString(number.payload, { type: 'svg', errorCorrectionLevel: 'M', margin: 2 });
        qrDataUrl.value = `data:image/svg+xml;charset=utf-8,${encodeURIComponent(svg)}`;
      }
    } catch (e) {
      error.value = errorText(e);
    } finally {
      loading.value = false;
    }
  }

  watch(userId, (id) => void load(id), { immediate: true });
  return { safetyNumber, qrDataUrl, error, loading, reload: () => load(userId.value) };
}
