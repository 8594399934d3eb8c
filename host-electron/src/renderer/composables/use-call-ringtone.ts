import { onBeforeUnmount } from 'vue';

/*
 * The incoming-call ringtone, generated with Web Audio (no asset to fetch, nothing for the CSP
 * to allow): two mixed sine tones, 1 s on and 2 s off, scheduled on the audio clock.
 */

const CADENCE_S = 3;
const ON_S = 1;

export function useCallRingtone() {
  let context: AudioContext | undefined;
  let timer: ReturnType<typeof setInterval> | undefined;

  function ringOnce(ctx: AudioContext): void {
    const start = ctx.currentTime + 0.05;
    const gain = ctx.createGain();
    gain.gain.setValueAtTime(0, start);
    gain.gain.linearRampToValueAtTime(0.15, start + 0.05);
    gain.gain.setValueAtTime(0.15, start + ON_S - 0.05);
    gain.gain.linearRampToValueAtTime(0, start + ON_S);
    gain.connect(ctx.destination);
    for (const frequency of [440, 480]) {
      const osc = ctx.createOscillator();
      osc.frequency.value = frequency;
      osc.connect(gain);
      osc.start(start);
      osc.stop(start + ON_S);
    }
  }

  function start(): void {
    if (timer !== undefined || typeof AudioContext === 'undefined') return;
    context = new AudioContext();
    // Autoplay rules may keep the context suspended until the user interacts; the prompt still shows.
    void context.resume().catch(() => undefined);
    ringOnce(context);
    timer = setInterval(() => context && ringOnce(context), CADENCE_S * 1000);
  }

  function stop(): void {
    if (timer !== undefined) clearInterval(timer);
    timer = undefined;
    void context?.close().catch(() => undefined);
    context = undefined;
  }

  onBeforeUnmount(stop);
  return {
    start,
    stop,
    get ringing(): boolean {
      return timer !== undefined;
    },
  };
}
