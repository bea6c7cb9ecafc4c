/** `bytes` of the smallest MP3 frames (96 bytes, 24 ms each): the MP3 frame bomb of finding M2. */
export function mp3Bomb(bytes: number): Buffer;
/** An MP4 whose video track's complete tables claim `samples` samples: the sample-table bomb of finding H2. */
export function mp4Bomb(samples: number): Buffer;
