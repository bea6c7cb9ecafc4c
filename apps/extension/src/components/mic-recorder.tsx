import { formatClock } from '@retalk/core';
import { useEffect, useRef, useState } from 'preact/hooks';
import { t } from '../lib/i18n.js';

type Take =
  | { state: 'idle' }
  | { state: 'starting' }
  | { state: 'recording'; startedMs: number }
  | { state: 'recorded'; file: File; url: string }
  | { state: 'error'; message: string };

/** Longest take: the provider's audio limit. */
const MAX_SEC = 120;

/** What the browser records speech in, best first (the picker converts it to WAV). */
function recordingType(): string {
  return (
    ['audio/webm;codecs=opus', 'audio/ogg;codecs=opus', 'audio/mp4'].find((t) =>
      MediaRecorder.isTypeSupported(t),
    ) ?? ''
  );
}

/**
 * Records the member's voice from the microphone: a live level meter and clock while recording,
 * then playback, "Use this recording" and "Record again".
 */
export function MicRecorder(props: { onUse: (file: File) => void; disabled?: boolean }) {
  const [take, setTake] = useState<Take>({ state: 'idle' });
  const [level, setLevel] = useState(0);
  const [now, setNow] = useState(0);
  const stopRef = useRef<(() => void) | null>(null);

  // Stop the microphone when the picker closes mid-take.
  useEffect(() => () => stopRef.current?.(), []);
  useEffect(
    () => () => {
      if (take.state === 'recorded') URL.revokeObjectURL(take.url);
    },
    [take],
  );

  async function start() {
    setTake({ state: 'starting' });
    let stream: MediaStream;
    try {
      stream = await navigator.mediaDevices.getUserMedia({ audio: true });
    } catch {
      setTake({
        state: 'error',
        message: t('mic.denied'),
      });
      return;
    }
    const type = recordingType();
    const recorder = new MediaRecorder(stream, type ? { mimeType: type } : {});
    const parts: Blob[] = [];
    const context = new AudioContext();
    const analyser = context.createAnalyser();
    analyser.fftSize = 512;
    context.createMediaStreamSource(stream).connect(analyser);
    const samples = new Float32Array(analyser.fftSize);
    const startedMs = Date.now();
    let frame = 0;
    const meter = () => {
      analyser.getFloatTimeDomainData(samples);
      let peak = 0;
      for (const s of samples) peak = Math.max(peak, Math.abs(s));
      setLevel(peak);
      setNow(Date.now());
      if (Date.now() - startedMs >= MAX_SEC * 1000) stop();
      else frame = requestAnimationFrame(meter);
    };
    const stop = () => {
      cancelAnimationFrame(frame);
      if (recorder.state !== 'inactive') recorder.stop();
      for (const track of stream.getTracks()) track.stop();
      void context.close();
      stopRef.current = null;
    };
    stopRef.current = stop;
    recorder.ondataavailable = (event) => {
      if (event.data.size > 0) parts.push(event.data);
    };
    recorder.onstop = () => {
      const blob = new Blob(parts, { type: recorder.mimeType || type });
      const extension = blob.type.includes('ogg') ? 'ogg' : blob.type.includes('mp4') ? 'm4a' : 'webm';
      const file = new File([blob], `microphone.${extension}`, { type: blob.type });
      setTake({ state: 'recorded', file, url: URL.createObjectURL(file) });
      setLevel(0);
    };
    recorder.start(250);
    setTake({ state: 'recording', startedMs });
    frame = requestAnimationFrame(meter);
  }

  return (
    <div class="mic" data-testid="mic">
      {take.state === 'recording' ? (
        <div class="row">
          <span class="grow" data-testid="mic-clock">
            {t('mic.recording', { at: formatClock(Math.floor((now - take.startedMs) / 1000)) })}
          </span>
          <meter
            class="mic-level"
            min={0}
            max={1}
            value={level}
            aria-label={t('mic.level')}
            data-testid="mic-level"
          />
          <button type="button" onClick={() => stopRef.current?.()}>
            {t('mic.stop')}
          </button>
        </div>
      ) : take.state === 'recorded' ? (
        <div>
          {/* biome-ignore lint/a11y/useMediaCaption: the member's own voice, just recorded */}
          <audio controls src={take.url} data-testid="mic-playback" />
          <div class="row">
            <button
              type="button"
              class="primary"
              disabled={props.disabled}
              onClick={() => props.onUse(take.file)}
            >
              {t('mic.use')}
            </button>
            <button type="button" disabled={props.disabled} onClick={() => void start()}>
              {t('mic.again')}
            </button>
          </div>
        </div>
      ) : (
        <button
          type="button"
          disabled={props.disabled || take.state === 'starting'}
          onClick={() => void start()}
        >
          {t('mic.record')}
        </button>
      )}
      {take.state === 'error' && (
        <p class="notice bad" role="alert">
          {take.message}
        </p>
      )}
    </div>
  );
}
