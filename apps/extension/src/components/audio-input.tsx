import { useState } from 'preact/hooks';
import { t } from '../lib/i18n.js';
import { MicRecorder } from './mic-recorder.js';

export type AudioChoice = { from: 'file'; file: File } | { from: 'url'; url: string };

const ACCEPT = 'audio/*,.wav,.mp3,.aac,.m4a,.ogg,.oga,.opus,.webm,.flac';

/**
 * Drop zone + file browse + URL field + microphone. Reports one chosen audio source, or several
 * files at once (one job each, for the same clip: "one video, several languages").
 */
export function AudioInput(props: {
  onChoose: (choice: AudioChoice) => void;
  onChooseFiles: (files: File[]) => void;
  disabled?: boolean;
}) {
  const [dragging, setDragging] = useState(false);
  const [url, setUrl] = useState('');

  function onDrop(event: DragEvent) {
    event.preventDefault();
    setDragging(false);
    const files = [...(event.dataTransfer?.files ?? [])];
    if (files.length > 0) props.onChooseFiles(files);
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
        <span class="muted">{t('audioInput.several')}</span>
      </label>
      <input
        id="audio-file"
        class="sr-only"
        type="file"
        accept={ACCEPT}
        multiple
        disabled={props.disabled}
        onChange={(e) => {
          const files = [...(e.currentTarget.files ?? [])];
          if (files.length > 0) props.onChooseFiles(files);
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
