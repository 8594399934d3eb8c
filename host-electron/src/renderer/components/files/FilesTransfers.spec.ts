// @vitest-environment happy-dom
import { afterEach, describe, expect, it } from 'vitest';
import { userIdFromPublicKey } from '@discordopus/sdk';
import type { TransferView } from '../../../common/client-api.ts';
import { BridgeError } from '../../../common/bridge-protocol.ts';
import { expectAccessible } from '../../test-support/a11y.ts';
import { ScriptedBridge, mountWithBridge, until } from '../../test-support/scripted-bridge.ts';
import FilesTransfers from './FilesTransfers.vue';

const ME = userIdFromPublicKey(new Uint8Array(32).fill(1));
const BOB = userIdFromPublicKey(new Uint8Array(32).fill(2));
const VIEW = { id: 'files.transfers', title: 'Transfers', location: 'panel' as const, component: 'files.Transfers', ariaLabel: 'File transfers' };

afterEach(() => {
  document.body.innerHTML = '';
});

function transfer(partial: Partial<TransferView>): TransferView {
  return { id: 'a'.repeat(32), peer: BOB, direction: 'in', name: 'photo.jpg', size: 2048, mime: 'image/jpeg', bytes: 0, rateBytesPerS: 0, etaMs: 0, state: 'offered', ...partial } as TransferView;
}

function filesBridge(list: TransferView[]) {
  const staged: { name: string; size: number; chunks: string[] } = { name: '', size: 0, chunks: [] };
  // Answers cross the bridge as JSON, so the component never shares objects with the backend.
  const handlers: Record<string, (params: any) => unknown> = {
    'contacts.list': () => [{ userId: BOB, name: 'Bob', verified: true, identityChanged: false, presence: 'online' }],
    'views.getModel': () => list,
    'files.accept': (p: { transferId: string }) => Object.assign(list.find((t) => t.id === p.transferId)!, { state: 'waiting' }),
    'files.decline': (p: { transferId: string }) => Object.assign(list.find((t) => t.id === p.transferId)!, { state: 'declined' }),
    'files.cancel': (p: { transferId: string }) => Object.assign(list.find((t) => t.id === p.transferId)!, { state: 'cancelled' }),
    'host.files.stageBegin': (p: { name: string; size: number }) => {
      Object.assign(staged, p, { chunks: [] });
      return { uploadId: 'b'.repeat(32) };
    },
    'host.files.stageChunk': (p: { data: string }) => {
      staged.chunks.push(p.data);
      return { received: 0 };
    },
    'host.files.stageSend': (p: { contact: string }) => {
      list.unshift(transfer({ id: 'c'.repeat(32), direction: 'out', name: staged.name, size: staged.size, state: 'waiting', peer: p.contact as TransferView['peer'] }));
      return { transferId: 'c'.repeat(32) };
    },
  };
  const bridge = new ScriptedBridge(Object.fromEntries(Object.entries(handlers).map(([method, handler]) => [method, (p: unknown) => JSON.parse(JSON.stringify(handler(p) ?? null))])));
  return { bridge, staged };
}

const mountTransfers = (bridge: ScriptedBridge) =>
  mountWithBridge(FilesTransfers, bridge, { props: { view: VIEW, loadModel: (id: string) => bridge.call('views.getModel', { id }), selfId: ME } });

describe('FilesTransfers', () => {
  it('accepts an offer and follows its progress to 100% from transfer events', async () => {
    const offer = transfer({});
    const { bridge } = filesBridge([offer]);
    const wrapper = mountTransfers(bridge);
    const row = () => wrapper.get(`[data-transfer-id="${offer.id}"]`);
    await until(() => expect(row().text()).toContain('from Bob'));
    expect(row().text()).toContain('2.0 KiB');
    await row().findAll('button').find((b) => b.text() === 'Accept')!.trigger('click');
    await until(() => expect(bridge.callsOf('files.accept')).toEqual([{ transferId: offer.id }]));
    bridge.emit({ topic: 'files.transfer', payload: { ...offer, state: 'transferring', bytes: 1024, rateBytesPerS: 4096, etaMs: 500 } });
    await until(() => expect(row().get('[data-testid=transfer-percent]').text()).toBe('50%'));
    expect(row().get('progress').attributes('aria-label')).toBe('photo.jpg: 50 percent');
    bridge.emit({ topic: 'files.transfer', payload: { ...offer, state: 'completed', bytes: 2048, path: '/home/bob/Downloads/photo.jpg' } });
    await until(() => expect(row().get('[data-testid=transfer-percent]').text()).toBe('100%'));
    // In a browser the app cannot open host files: it says where the file is.
    expect(row().get('[data-testid=transfer-path]').text()).toBe('/home/bob/Downloads/photo.jpg');
    expect(row().findAll('button').map((b) => b.text())).toEqual([]);
  });

  it('declines an offer and cancels a running transfer', async () => {
    const offer = transfer({});
    const running = transfer({ id: 'd'.repeat(32), direction: 'out', state: 'transferring', bytes: 10 });
    const { bridge } = filesBridge([offer, running]);
    const wrapper = mountTransfers(bridge);
    await until(() => expect(wrapper.findAll('[data-transfer-id]')).toHaveLength(2));
    await wrapper.get(`[data-transfer-id="${offer.id}"]`).findAll('button').find((b) => b.text() === 'Decline')!.trigger('click');
    await wrapper.get(`[data-transfer-id="${running.id}"]`).findAll('button').find((b) => b.text() === 'Cancel')!.trigger('click');
    await until(() => expect(bridge.callsOf('files.cancel')).toEqual([{ transferId: running.id }]));
    expect(bridge.callsOf('files.decline')).toEqual([{ transferId: offer.id }]);
    await until(() => expect(wrapper.get(`[data-transfer-id="${offer.id}"]`).attributes('data-state')).toBe('declined'));
    expectAccessible(wrapper.element);
  });

  it('uploads a dropped file in chunks to the host, then it is offered', async () => {
    const { bridge, staged } = filesBridge([]);
    const wrapper = mountTransfers(bridge);
    await until(() => expect((wrapper.get('#file-contact').element as HTMLSelectElement).value).toBe(BOB));
    const bytes = new Uint8Array(1024 * 1024 + 5000);
    for (let i = 0; i < bytes.length; i += 997) bytes[i] = i % 251;
    const file = new File([bytes], 'big.bin', { type: 'application/octet-stream' });
    const drop = new Event('drop', { bubbles: true, cancelable: true }) as Event & { dataTransfer: { files: File[] } };
    Object.defineProperty(drop, 'dataTransfer', { value: { files: [file] } });
    wrapper.get('[data-testid=file-drop]').element.dispatchEvent(drop);
    await until(() => expect(bridge.callsOf('host.files.stageSend')).toEqual([{ uploadId: 'b'.repeat(32), contact: BOB }]), 5000);
    expect(staged).toMatchObject({ name: 'big.bin', size: bytes.length });
    expect(staged.chunks).toHaveLength(2);
    expect(Buffer.concat(staged.chunks.map((c) => Buffer.from(c, 'base64')))).toEqual(Buffer.from(bytes));
    expect(bridge.callsOf('host.files.stageChunk').map((p) => (p as { offset: number }).offset)).toEqual([0, 1024 * 1024]);
    await until(() => expect(wrapper.find(`[data-transfer-id="${'c'.repeat(32)}"]`).exists()).toBe(true));
    expect(wrapper.get(`[data-transfer-id="${'c'.repeat(32)}"]`).text()).toContain('to Bob');
  }, 90_000);

  it('says clearly when file transfer is not available', async () => {
    const bridge = new ScriptedBridge({
      'contacts.list': () => [],
      'views.getModel': () => { throw new BridgeError('files/unavailable', 'File transfer is not available in this profile (it is failed).'); },
    });
    const wrapper = mountTransfers(bridge);
    await until(() => expect(wrapper.find('[role=alert]').exists()).toBe(true));
    expect(wrapper.get('[role=alert]').text()).toContain('File transfer is not available');
    expect(wrapper.get('label[for=file-picker]').text()).toContain('choose files');
  });
});
