import { useRef } from 'preact/hooks';
import { t } from '../lib/i18n.js';

export type FramePoint = { x: number; y: number };

/**
 * The captured video frame; a click (or arrow keys, then Enter) marks the speaker's face.
 * Points are in the frame's own pixels.
 */
export function FacePicker(props: {
  frameUrl: string;
  frameSize: { width: number; height: number };
  point: FramePoint | null;
  onPick: (point: FramePoint | null) => void;
}) {
  const ref = useRef<HTMLButtonElement>(null);
  const { width, height } = props.frameSize;
  const step = Math.max(4, Math.round(Math.min(width, height) / 20));

  function onClick(event: MouseEvent) {
    const box = ref.current?.getBoundingClientRect();
    // Keyboard "clicks" have no position: mark the centre, then arrows move it.
    if (!box || (event.detail === 0 && event.clientX === 0 && event.clientY === 0)) {
      props.onPick(props.point ?? { x: width / 2, y: height / 2 });
      return;
    }
    props.onPick({
      x: Math.round(((event.clientX - box.left) / box.width) * width),
      y: Math.round(((event.clientY - box.top) / box.height) * height),
    });
  }

  function onKeyDown(event: KeyboardEvent) {
    const moves: Record<string, [number, number]> = {
      ArrowLeft: [-step, 0],
      ArrowRight: [step, 0],
      ArrowUp: [0, -step],
      ArrowDown: [0, step],
    };
    const move = moves[event.key];
    if (!move) return;
    event.preventDefault();
    const from = props.point ?? { x: width / 2, y: height / 2 };
    props.onPick({
      x: Math.min(width, Math.max(0, from.x + move[0])),
      y: Math.min(height, Math.max(0, from.y + move[1])),
    });
  }

  return (
    <button
      ref={ref}
      type="button"
      class="face-frame"
      aria-label={t('picker.faceFrame')}
      onClick={onClick}
      onKeyDown={onKeyDown}
    >
      <img src={props.frameUrl} alt="" draggable={false} />
      {props.point && (
        <span
          class="face-mark"
          style={{ left: `${(props.point.x / width) * 100}%`, top: `${(props.point.y / height) * 100}%` }}
        />
      )}
    </button>
  );
}
