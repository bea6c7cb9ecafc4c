import { useState } from 'preact/hooks';
import { t } from '../lib/i18n.js';
import { MicRecorder } from './mic-recorder.js';

export type AudioChoice = { from: 'file'; file: File } | { from: 'url'; url: string };

const ACCEPT = 'audio/*,.wav,.mp3,.aac,.m4a,.ogg,.oga,.opus,.webm,.flac';

/** Drop zone + file browse + URL field; reports one chosen audio source. */
export function AudioInput(props: { onChoose: (choice: AudioChoice) => void; disabled?: boolean }) {
  const [dragging, setDragging] = useState(false);
  const [url, setUrl] = useState('');

  function onDrop(event: DragEvent) {
    event.preventDefault();
    setDragging(false);
    const file = event.dataTransfer?.files[0];
    if (file) props.onChoose({ from: 'file', file });
  }

  return (
    <div class="audio-input">
      <label
        class={`drop${dragging ? ' dragging' : ''}`}
        for="audio-file"
        onDragOver={(e) => {
          e.preventDefault();
          setDragging(true);
        }}
        onDragLeave={() => setDragging(false)}
        onDrop={onDrop}
      >
        <span class="drop-title">{t('audioInput.drop')}</span>
        <span class="muted">{t('audioInput.browse')}</span>
      </label>
      <input
        id="audio-file"
        class="sr-only"
        type="file"
        accept={ACCEPT}
        disabled={props.disabled}
        onChange={(e) => {
          const file = e.currentTarget.files?.[0];
          if (file) props.onChoose({ from: 'file', file });
        }}
      />
      <form
        class="row url-row"
        onSubmit={(e) => {
          e.preventDefault();
          if (url.trim()) props.onChoose({ from: 'url', url: url.trim() });
        }}
      >
        <label class="sr-only" for="audio-url">
          {t('audioInput.url')}
        </label>
        <input
          id="audio-url"
          class="grow"
          type="url"
          placeholder={t('audioInput.urlPlaceholder')}
          value={url}
          disabled={props.disabled}
          onInput={(e) => setUrl(e.currentTarget.value)}
        />
        <button type="submit" disabled={props.disabled || !url.trim()}>
          {t('audioInput.useUrl')}
        </button>
      </form>
      <MicRecorder
        {...(props.disabled !== undefined && { disabled: props.disabled })}
        onUse={(file) => props.onChoose({ from: 'file', file })}
      />
    </div>
  );
}
