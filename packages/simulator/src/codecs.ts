// FFmpeg's codecs come from @mediabunny/server, loaded on first use only: `echo` never pays for
// the native libraries. No hardware context: the automatic one probes GPU drivers and prints
// their complaints on stderr, and a few seconds of 640 px video need no GPU.
let codecsReady: Promise<void> | undefined;

/** Registers FFmpeg's encoders and decoders with mediabunny, once per process. */
export function loadCodecs(): Promise<void> {
  codecsReady ??= import('@mediabunny/server').then((m) =>
    m.registerMediabunnyServer({ hardwareContext: null }),
  );
  return codecsReady;
}
