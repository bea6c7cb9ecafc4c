import { t } from './i18n.js';

/** A rectangle in pixels of some image. */
export type PixelRect = { x: number; y: number; width: number; height: number };

/**
 * Where the video sits inside a capture of the visible tab. The page reports CSS pixels; the
 * capture is in device pixels, so scale by the ratio of capture width to viewport width.
 */
export function videoRectInCapture(
  rect: PixelRect,
  captureSize: { width: number; height: number },
  devicePixelRatio: number,
): PixelRect | null {
  const scale = devicePixelRatio > 0 ? devicePixelRatio : 1;
  const x = Math.max(0, Math.round(rect.x * scale));
  const y = Math.max(0, Math.round(rect.y * scale));
  const right = Math.min(captureSize.width, Math.round((rect.x + rect.width) * scale));
  const bottom = Math.min(captureSize.height, Math.round((rect.y + rect.height) * scale));
  if (right - x < 8 || bottom - y < 8) return null;
  return { x, y, width: right - x, height: bottom - y };
}

/**
 * A square around the clicked face: its side is `sideRatio` of the frame's shorter side, moved
 * (not shrunk) to stay inside the frame. `point` is in frame pixels.
 */
export function faceCropAround(
  point: { x: number; y: number },
  frame: { width: number; height: number },
  sideRatio = 0.45,
): PixelRect {
  const side = Math.max(1, Math.round(Math.min(frame.width, frame.height) * sideRatio));
  const clamp = (value: number, max: number) => Math.min(Math.max(0, value), Math.max(0, max));
  return {
    x: clamp(Math.round(point.x - side / 2), frame.width - side),
    y: clamp(Math.round(point.y - side / 2), frame.height - side),
    width: side,
    height: side,
  };
}

export function loadImage(src: string): Promise<HTMLImageElement> {
  return new Promise((resolve, reject) => {
    const image = new Image();
    image.onload = () => resolve(image);
    image.onerror = () => reject(new Error(t('picker.frameUnreadable')));
    image.src = src;
  });
}

/** The image scaled to `width` pixels wide as a JPEG data URL (a job card's thumbnail, ~2 KB). */
export function thumbnailOf(image: HTMLImageElement, width = 96): string | undefined {
  const scale = width / Math.max(1, image.naturalWidth);
  const canvas = document.createElement('canvas');
  canvas.width = width;
  canvas.height = Math.max(1, Math.round(image.naturalHeight * scale));
  const context = canvas.getContext('2d');
  if (!context) return undefined;
  context.drawImage(image, 0, 0, canvas.width, canvas.height);
  return canvas.toDataURL('image/jpeg', 0.7);
}

/** Cuts `rect` out of an image as a PNG (page contexts only: needs a canvas). */
export async function cropToPng(image: CanvasImageSource, rect: PixelRect): Promise<Blob> {
  const canvas = document.createElement('canvas');
  canvas.width = rect.width;
  canvas.height = rect.height;
  const context = canvas.getContext('2d');
  if (!context) throw new Error(t('picker.frameNoCanvas'));
  context.drawImage(image, rect.x, rect.y, rect.width, rect.height, 0, 0, rect.width, rect.height);
  return new Promise((resolve, reject) => {
    canvas.toBlob((blob) => (blob ? resolve(blob) : reject(new Error(t('picker.faceEncode')))), 'image/png');
  });
}
