import { describe, expect, it } from 'vitest';
import { faceCropAround, videoRectInCapture } from '../src/lib/face-crop.js';
import {
  chooseVideoIntake,
  classifySourceUrl,
  isPrivateHost,
  videoFilename,
} from '../src/lib/video-source.js';

describe('video intake', () => {
  it('sends public http(s) videos by URL', () => {
    expect(chooseVideoIntake({ src: 'https://cdn.example.com/clip.mp4', kind: 'url' })).toBe('by-url');
  });

  it('uploads videos only this browser can reach: private addresses and page files', () => {
    expect(chooseVideoIntake({ src: 'http://127.0.0.1:8080/v.mp4', kind: 'url' })).toBe('upload-from-page');
    expect(chooseVideoIntake({ src: 'http://192.168.1.20/v.mp4', kind: 'url' })).toBe('upload-from-page');
    expect(chooseVideoIntake({ src: 'http://intranet/v.mp4', kind: 'url' })).toBe('upload-from-page');
    expect(chooseVideoIntake({ src: 'blob:https://site.example/123', kind: 'page-file' })).toBe(
      'upload-from-page',
    );
  });

  it('records a streamed (MSE) video from the page, unless it is protected, tainted or not loaded', () => {
    const stream = { src: 'blob:https://www.youtube.com/abc', kind: 'stream' } as const;
    expect(chooseVideoIntake(stream)).toBe('record-from-page');
    expect(chooseVideoIntake({ ...stream, protection: 'encrypted' })).toBe('unavailable');
    expect(chooseVideoIntake({ ...stream, protection: 'tainted' })).toBe('unavailable');
    expect(chooseVideoIntake({ ...stream, notLoaded: true })).toBe('unavailable');
  });

  it('cannot send a missing source', () => {
    expect(chooseVideoIntake({ src: '', kind: 'none' })).toBe('unavailable');
  });

  it('classifies source URLs before probing blob: ones', () => {
    expect(classifySourceUrl('blob:https://a.example/x')).toBe('probe-blob');
    expect(classifySourceUrl('https://a.example/x.mp4')).toBe('url');
    expect(classifySourceUrl('')).toBe('none');
  });

  it('treats loopback, private and link-local hosts as private', () => {
    for (const host of [
      'localhost',
      '127.0.0.1',
      '10.1.2.3',
      '172.16.0.1',
      '169.254.1.1',
      '[::1]',
      'nas.local',
    ]) {
      expect(isPrivateHost(host), host).toBe(true);
    }
    for (const host of ['example.com', '8.8.8.8', '172.32.0.1'])
      expect(isPrivateHost(host), host).toBe(false);
  });

  it('names uploaded page videos after their URL when it has a video file name', () => {
    expect(videoFilename('http://127.0.0.1/media/talk%20one.mp4?x=1')).toBe('talk one.mp4');
    expect(videoFilename('blob:https://a.example/uuid')).toBe('page-video.mp4');
  });
});

describe('face crop', () => {
  it('maps the video box from CSS pixels into the device-pixel tab capture', () => {
    expect(
      videoRectInCapture({ x: 10, y: 20, width: 320, height: 240 }, { width: 1600, height: 1200 }, 2),
    ).toEqual({
      x: 20,
      y: 40,
      width: 640,
      height: 480,
    });
  });

  it('clips a video partly off screen and ignores one that is not visible', () => {
    expect(
      videoRectInCapture({ x: -100, y: 0, width: 300, height: 100 }, { width: 800, height: 600 }, 1),
    ).toEqual({
      x: 0,
      y: 0,
      width: 200,
      height: 100,
    });
    expect(
      videoRectInCapture({ x: 900, y: 0, width: 300, height: 100 }, { width: 800, height: 600 }, 1),
    ).toBeNull();
  });

  it('cuts a square around the clicked face, kept inside the frame', () => {
    expect(faceCropAround({ x: 320, y: 240 }, { width: 640, height: 480 }, 0.5)).toEqual({
      x: 200,
      y: 120,
      width: 240,
      height: 240,
    });
    expect(faceCropAround({ x: 5, y: 470 }, { width: 640, height: 480 }, 0.5)).toEqual({
      x: 0,
      y: 240,
      width: 240,
      height: 240,
    });
  });
});
