import { describe, expect, it } from 'vitest';
import { chooseVariant, loadedPlaylists, parsePlaylist, segmentsForRange } from '../src/lib/page-hls.js';
import { chooseVideoIntake } from '../src/lib/video-source.js';

const MEDIA = `#EXTM3U
#EXT-X-VERSION:7
#EXT-X-TARGETDURATION:4
#EXT-X-MAP:URI="init.mp4"
#EXTINF:4.0,
seg0.m4s
#EXTINF:4.0,
seg1.m4s
#EXTINF:2.5,
https://cdn.example.com/other/seg2.m4s
#EXT-X-ENDLIST
`;

describe('HLS playlists as the page fetches them', () => {
  it('reads a media playlist: the init segment and each segment with its place on the timeline', () => {
    const playlist = parsePlaylist(MEDIA, 'https://cdn.example.com/v/720p.m3u8?token=1');
    expect(playlist).toEqual({
      type: 'media',
      map: 'https://cdn.example.com/v/init.mp4',
      encrypted: false,
      segments: [
        { uri: 'https://cdn.example.com/v/seg0.m4s', startSec: 0, durationSec: 4 },
        { uri: 'https://cdn.example.com/v/seg1.m4s', startSec: 4, durationSec: 4 },
        { uri: 'https://cdn.example.com/other/seg2.m4s', startSec: 8, durationSec: 2.5 },
      ],
    });
  });

  it('takes only the segments that hold part of the clip', () => {
    const playlist = parsePlaylist(MEDIA, 'https://cdn.example.com/v/720p.m3u8');
    if (playlist.type !== 'media') throw new Error('expected a media playlist');
    expect(
      segmentsForRange(playlist.segments, { startSec: 4.5, endSec: 8.2 }).map((s) => s.startSec),
    ).toEqual([4, 8]);
    expect(segmentsForRange(playlist.segments, { startSec: 4, endSec: 8 }).map((s) => s.startSec)).toEqual([
      4,
    ]);
  });

  it('marks an encrypted stream, and reads a master playlist’s variants, choosing the one the page shows', () => {
    const keyed = parsePlaylist(
      '#EXTM3U\n#EXT-X-KEY:METHOD=AES-128,URI="k"\n#EXTINF:4,\na.ts\n',
      'https://x.example/a.m3u8',
    );
    expect(keyed).toMatchObject({ type: 'media', encrypted: true });
    expect(keyed).not.toHaveProperty('map');
    const master = parsePlaylist(
      `#EXTM3U
#EXT-X-STREAM-INF:BANDWIDTH=800000,RESOLUTION=640x360,CODECS="avc1.4d401e,mp4a.40.2"
360p.m3u8
#EXT-X-STREAM-INF:BANDWIDTH=2400000,RESOLUTION=1280x720
720p.m3u8
`,
      'https://x.example/master.m3u8',
    );
    if (master.type !== 'master') throw new Error('expected a master playlist');
    expect(chooseVariant(master.variants, 360)?.uri).toBe('https://x.example/360p.m3u8');
    expect(chooseVariant(master.variants, 1080)?.uri).toBe('https://x.example/720p.m3u8');
    expect(() => parsePlaylist('<html>', 'https://x.example/')).toThrow('not an HLS playlist');
  });

  it('finds the playlists among what the page loaded, newest first, and sends such streams by their segments', () => {
    const entries = [
      { name: 'https://x.example/app.js' },
      { name: 'https://x.example/master.m3u8' },
      { name: 'https://x.example/720p.m3u8?t=1' },
      { name: 'https://x.example/seg0.m4s' },
    ];
    const manifests = loadedPlaylists(entries);
    expect(manifests).toEqual(['https://x.example/720p.m3u8?t=1', 'https://x.example/master.m3u8']);
    const stream = { src: 'blob:https://x.example/1', kind: 'stream' as const };
    expect(chooseVideoIntake({ ...stream, hlsManifests: manifests })).toBe('hls-from-page');
    expect(chooseVideoIntake(stream)).toBe('record-from-page');
    expect(chooseVideoIntake({ ...stream, hlsManifests: manifests, protection: 'encrypted' })).toBe(
      'unavailable',
    );
  });
});
