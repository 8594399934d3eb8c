import { contextBridge, ipcRenderer, webUtils, type IpcRendererEvent } from 'electron';
import { IpcChannel, isMethodName, RpcErrorCode, type BridgeEvent, type PreloadBridge } from '../common/bridge-protocol.ts';

/*
 * The only thing the renderer gets from the preload: `window.discordopus`, a typed bridge with
 * two functions. No ipcRenderer, no Node: the page cannot pick channels or send raw IPC.
 */

const bridge: PreloadBridge = {
  async call(method, params) {
    if (!isMethodName(method)) {
      return { ok: false, error: { code: RpcErrorCode.invalidRequest, message: 'Invalid method name.', data: { code: 'bridge/invalid-request' } } };
    }
    return ipcRenderer.invoke(IpcChannel.call, params === undefined ? { method } : { method, params });
  },
  async sendFile(file, contact) {
    // Only a File the user picked or dropped has a path; one the page made up has none.
    const filePath = file instanceof File ? webUtils.getPathForFile(file) : '';
    if (!filePath || typeof contact !== 'string') {
      return { ok: false, error: { code: RpcErrorCode.invalidParams, message: 'Pick or drop a file from your disk to send it.', data: { code: 'bridge/invalid-params' } } };
    }
    return ipcRenderer.invoke(IpcChannel.sendFile, { contact, path: filePath });
  },
  onEvent(listener) {
    const handler = (_event: IpcRendererEvent, payload: unknown) => {
      const event = payload as BridgeEvent | undefined;
      if (event && typeof event === 'object' && typeof event.topic === 'string') listener({ topic: event.topic, payload: event.payload });
    };
    ipcRenderer.on(IpcChannel.event, handler);
    return () => ipcRenderer.removeListener(IpcChannel.event, handler);
  },
};

contextBridge.exposeInMainWorld('discordopus', bridge);
