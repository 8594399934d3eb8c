import type { Component } from 'vue';
import FilesTransfers from '../files/FilesTransfers.vue';
import MessagingScreen from '../messaging/MessagingScreen.vue';

/*
 * Renderer components for plugin views, by the `component` name a ViewContribution gives. The
 * shell mounts one only for a view a running plugin contributed (so a plugin that failed or was
 * removed leaves no screen behind); views without a registered component get the generic
 * renderer. Each component takes the props of {@link ViewComponentProps}.
 */
export const VIEW_COMPONENTS: Readonly<Record<string, Component>> = {
  'messaging.Conversation': MessagingScreen,
  'files.Transfers': FilesTransfers,
};

export interface ViewComponentProps {
  view: import('@discordopus/sdk').ViewContribution;
  loadModel: (id: string) => Promise<unknown>;
  selfId: string;
  /** A conversation to open (from a notification click). */
  openPeer?: string | undefined;
}

/** The registered component for a view, if any. */
export function viewComponentFor(view: { component?: string | undefined }): Component | undefined {
  return view.component !== undefined && Object.hasOwn(VIEW_COMPONENTS, view.component) ? VIEW_COMPONENTS[view.component] : undefined;
}
