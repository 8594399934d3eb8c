import { computed, ref } from 'vue';
import type { ContributionsView, PluginView } from '../../common/client-api.ts';
import { errorText } from './error-text.ts';
import { useBridgeEvent } from './use-bridge-event.ts';
import { useClientApi } from './use-client-api.ts';

/** What plugins contribute (commands, views, settings) and the plugin list with permissions. */
export function useContributions() {
  const api = useClientApi();
  const contributions = ref<ContributionsView>({ commands: [], views: [], settings: [] });
  const plugins = ref<PluginView[]>([]);
  const error = ref<string | undefined>();

  async function refresh(): Promise<void> {
    const [c, p] = await Promise.allSettled([api.contributions(), api.plugins()]);
    if (c.status === 'fulfilled') contributions.value = c.value;
    if (p.status === 'fulfilled') plugins.value = p.value;
    const failed = [c, p].find((r) => r.status === 'rejected') as PromiseRejectedResult | undefined;
    error.value = failed ? errorText(failed.reason) : undefined;
  }

  useBridgeEvent(['contributions.changed', 'kernel.ready', 'plugin.failed'], () => void refresh());

  const sidebarViews = computed(() =>
    contributions.value.views
      .filter((view) => view.location === 'sidebar')
      .sort((a, b) => (a.order ?? 0) - (b.order ?? 0) || a.title.localeCompare(b.title)),
  );

  return {
    contributions,
    plugins,
    sidebarViews,
    error,
    refresh,
    executeCommand: (id: string) => api.executeCommand(id),
    viewModel: (id: string) => api.viewModel(id),
  };
}
