import { formatClock, type MediaMeta } from '@retalk/core';
import type { Job, Me } from '@retalk/core/relay';
import { useEffect, useMemo, useRef, useState } from 'preact/hooks';
import { browser } from 'wxt/browser';
import { convertToWav, needsConversion } from '../lib/audio-convert.js';
import { cutAtKeyFrame } from '../lib/clip-cut.js';
import { describeBudget, providerName } from '../lib/connect.js';
import { toErrorMessage } from '../lib/errors.js';
import { cropToPng, faceCropAround, loadImage, thumbnailOf, videoRectInCapture } from '../lib/face-crop.js';
import { createFrameSeeker, FRAME_AT_MESSAGE, type FrameSeeker } from '../lib/frame-seeker.js';
import { t } from '../lib/i18n.js';
import {
  type CheckedMedia,
  check,
  probeAudioFile,
  probeAudioUrl,
  probeVideoFile,
} from '../lib/media-checks.js';
import { describeVideoInFrame } from '../lib/menu-action.js';
import { protectionAdvice } from '../lib/page-recorder.js';
import { CHOOSE_VIDEO_MESSAGE, LIST_VIDEOS_MESSAGE, type PageVideoEntry } from '../lib/page-video.js';
import { fetchHlsClipFromPage, readVideoFromPage, recordVideoFromPage } from '../lib/page-video-reader.js';
import {
  CLIP_MIN_SEC,
  defaultAudioRange,
  defaultClip,
  evaluatePick,
  isPartOf,
  withRange,
} from '../lib/pick-check.js';
import type { PickRequest } from '../lib/pick-request.js';
import { loadConnection, type RelayConnection } from '../lib/relay-connection.js';
import { relayOriginPattern, settingsItem } from '../lib/settings.js';
import { hlsFrameAt, hlsThumbnails } from '../lib/stream-thumbnails.js';
import { type GroupPlan, type SubmitStep, submitJobs } from '../lib/submit-job.js';
import { grabThumbnails, PREVIEW_MESSAGE, playRange, THUMBNAILS_MESSAGE } from '../lib/thumbnails.js';
import { formatBytes, formatNumber, formatSeconds } from '../lib/time-format.js';
import { chooseVideoIntake, takesClip, type VideoTarget, videoFilename } from '../lib/video-source.js';
import { type AudioChoice, AudioInput } from './audio-input.js';
import { AudioPart } from './audio-part.js';
import { type Clip, ClipChooser } from './clip-chooser.js';
import { FacePicker, type FramePoint } from './face-picker.js';
import { LiveJobs } from './live-jobs-list.js';
import { PinHint } from './pin-hint.js';
import { ProgressBar } from './progress-bar.js';
import { VideoSwitcher } from './video-switcher.js';

const DEFAULT_FACE_THRESHOLD = 170;

/** The frame the face is picked on; `timeSec` is where in the video it is, when known. */
type Frame = { url: string; image: HTMLImageElement; width: number; height: number; timeSec?: number };
/** How other frames of the video can be had for the face pick (finding 11). */
type FaceSeek = 'file' | 'page' | 'hls';
type AudioState =
  | { state: 'probing'; name: string }
  | {
      state: 'ready';
      choice: AudioChoice;
      name: string;
      checked: CheckedMedia;
      /** The part of the audio to use (seconds into it); absent = all of it. */
      range?: Clip;
      /** True while `range` is the picker's proposal for a too-long audio. */
      rangeProposed?: boolean;
    }
  | { state: 'error'; message: string };
type ReadyAudio = Extract<AudioState, { state: 'ready' }>;

function ProblemList(props: { title: string; problems: CheckedMedia['problems'] }) {
  if (props.problems.length === 0) return null;
  return (
    <div class="notice bad" role="alert" data-testid="media-problems">
      <strong>{props.title}</strong>
      <ul>
        {props.problems.map((p) => (
          <li key={p.field}>
            {p.message} <span class="muted">{t('picker.allowed', { allowed: p.allowed })}</span>
          </li>
        ))}
      </ul>
    </div>
  );
}

/** One chosen audio: its name, length and size, the part of it to use, or why it cannot be used. */
function AudioLine(props: {
  index: number;
  audio: AudioState;
  problems: CheckedMedia['problems'];
  outputSec?: number;
  disabled: boolean;
  onRange: (range: Clip | undefined) => void;
}) {
  const { audio } = props;
  if (audio.state === 'probing')
    return <p class="muted audio-line">{t('picker.reading', { name: audio.name })}</p>;
  if (audio.state === 'error')
    return (
      <div class="notice bad" role="alert">
        {audio.message}
      </div>
    );
  const meta = audio.checked.meta;
  return (
    <div class="audio-line" data-testid="audio-line">
      <p>
        <strong>{audio.name}</strong> ·{' '}
        {meta.durationSec !== undefined ? formatSeconds(meta.durationSec) : t('picker.audioDurationUnknown')}
        {meta.sizeBytes !== undefined ? ` · ${formatBytes(meta.sizeBytes)}` : ''}
        {props.outputSec !== undefined
          ? ` · ${t('picker.jobOf', { seconds: formatSeconds(props.outputSec) })}`
          : ''}
      </p>
      {meta.durationSec !== undefined && meta.durationSec > CLIP_MIN_SEC && (
        <AudioPart
          index={props.index}
          choice={audio.choice}
          durationSec={meta.durationSec}
          range={audio.range}
          proposed={audio.rangeProposed}
          disabled={props.disabled}
          onChange={props.onRange}
        />
      )}
      <ProblemList title={t('picker.namedAudioProblems', { name: audio.name })} problems={props.problems} />
    </div>
  );
}

/**
 * The moment of the video the face is picked on: a slider over the whole video (0.1 s a step, arrow
 * keys), a frame asked for when it settles (a release, a key press), and what is shown now.
 */
function FaceTime(props: {
  durationSec: number;
  shownSec: number;
  frameSec: number | undefined;
  status: 'loading' | 'failed' | null;
  onInput: (sec: number) => void;
  onChange: (sec: number) => void;
}) {
  const shown = formatClock(props.shownSec);
  return (
    <div class="face-time">
      <label for="face-time">
        {t('picker.faceTime')} <span class="muted">{shown}</span>
      </label>
      <input
        id="face-time"
        type="range"
        min={0}
        max={Math.round(props.durationSec * 10) / 10}
        step={0.1}
        value={props.shownSec}
        aria-valuetext={shown}
        aria-describedby="face-time-status"
        onInput={(e) => props.onInput(Number(e.currentTarget.value))}
        onChange={(e) => props.onChange(Number(e.currentTarget.value))}
      />
      <p id="face-time-status" class="hint" aria-live="polite" data-testid="face-time-status">
        {props.status === 'loading'
          ? t('picker.faceTimeLoading', { time: shown })
          : props.status === 'failed'
            ? t('picker.faceTimeFailed', { time: shown })
            : props.frameSec !== undefined
              ? t('picker.faceTimeShown', { time: formatClock(props.frameSec) })
              : ''}
      </p>
    </div>
  );
}

function hostOf(url: string): string {
  try {
    return new URL(url).host || url;
  } catch {
    return url;
  }
}

export function PickerApp(props: { request: PickRequest | null }) {
  const { request } = props;
  // The frame's own description replaces the menu's srcUrl once the member grants a blocked frame.
  const [target, setTarget] = useState<VideoTarget | null>(request?.video ?? null);
  const [blockedOrigin, setBlockedOrigin] = useState(request?.blockedFrameOrigin);
  const [frameAccessError, setFrameAccessError] = useState<string | null>(null);
  const [connection, setConnection] = useState<RelayConnection | null | undefined>(undefined);
  const [me, setMe] = useState<Me | null>(null);
  const [meError, setMeError] = useState<string | null>(null);
  const [frame, setFrame] = useState<Frame | null>(null);
  const [videoFile, setVideoFile] = useState<{ file: File; checked: CheckedMedia } | null>(null);
  // One job per audio, all for the same clip.
  const [audios, setAudios] = useState<AudioState[]>([]);
  const [facePoint, setFacePoint] = useState<FramePoint | null>(null);
  /** The moment the member asked to pick the face on (null: the frame at the right-click). */
  const [faceTime, setFaceTime] = useState<number | null>(null);
  /** Where the face slider stands while it moves, before a frame is asked for. */
  const [faceTimeShown, setFaceTimeShown] = useState<number | null>(null);
  const [faceTimeStatus, setFaceTimeStatus] = useState<'loading' | 'failed' | null>(null);
  const fileSeeker = useRef<FrameSeeker | null>(null);
  const [facePreview, setFacePreview] = useState<{ blob: Blob; url: string } | null>(null);
  const [videoExtension, setVideoExtension] = useState(false);
  const [sendBy, setSendBy] = useState<'by-url' | 'upload-from-page' | null>(null);
  const [faceThreshold, setFaceThreshold] = useState<number | null>(null);
  const [steps, setSteps] = useState<Record<string, SubmitStep>>({});
  const [submitting, setSubmitting] = useState(false);
  const [submitError, setSubmitError] = useState<string | null>(null);
  const [submitted, setSubmitted] = useState<Job[] | null>(null);
  const idempotencyKey = useMemo(() => crypto.randomUUID(), []);
  const [clip, setClip] = useState<Clip | null>(null);
  const [clipTouched, setClipTouched] = useState(false);
  /** What a Cancel stopped: the recording of the clip, or sending the inputs. */
  const [canceled, setCanceled] = useState<'recording' | 'sending' | false>(false);
  const stopSubmit = useRef<AbortController | null>(null);
  const [thumbnails, setThumbnails] = useState<string[]>([]);
  const [previewStatus, setPreviewStatus] = useState<string | undefined>(undefined);
  const [fileUrl, setFileUrl] = useState<string | null>(null);
  const [pageVideos, setPageVideos] = useState<PageVideoEntry[]>([]);
  const previewVideo = useRef<HTMLVideoElement | null>(null);
  // The steps as they happen, for the catch of submit() (the state is a render behind).
  const stepsSoFar = useRef<Record<string, SubmitStep>>({});

  // Connecting (or switching relay) in the options while the picker is open takes effect here at
  // once: no second right-click (finding 22).
  useEffect(() => {
    const load = async () => {
      const conn = await loadConnection();
      setConnection(conn);
      setMe(null);
      setMeError(null);
      if (!conn) return;
      try {
        setMe(await conn.client.me());
      } catch (error) {
        setMeError(toErrorMessage(error));
      }
    };
    void load();
    return settingsItem.watch(() => void load());
  }, []);

  // An embedded player from another site: once the member grants its origin (from this click, a
  // user gesture), the finder is injected into that frame and describes the video.
  async function describeBlockedFrame() {
    if (!request) return;
    const asked = await describeVideoInFrame(request.tabId, request.frameId, request.srcUrl);
    if ('blocked' in asked) {
      setFrameAccessError(t('picker.frameStillBlocked'));
      return;
    }
    if (asked.video) setTarget(asked.video);
    setBlockedOrigin(undefined);
    setFrameAccessError(null);
  }

  async function allowFrame() {
    if (!blockedOrigin) return;
    setFrameAccessError(null);
    let granted = false;
    try {
      granted = await browser.permissions.request({ origins: [relayOriginPattern(blockedOrigin)] });
    } catch (error) {
      setFrameAccessError(toErrorMessage(error));
      return;
    }
    if (granted) await describeBlockedFrame();
    else setFrameAccessError(t('picker.frameDenied', { host: hostOf(blockedOrigin) }));
  }

  // Escape closes the picker as it does a dialog (finding 19), except while inputs are being sent:
  // closing then would cancel the send.
  useEffect(() => {
    const onKey = (event: KeyboardEvent) => {
      if (event.key === 'Escape' && !event.defaultPrevented && !submitting) window.close();
    };
    document.addEventListener('keydown', onKey);
    return () => document.removeEventListener('keydown', onKey);
  }, [submitting]);

  // The other videos of the clicked frame, to switch to (finding 9); asked again after a switch.
  useEffect(() => {
    if (!request || !target || blockedOrigin) {
      setPageVideos([]);
      return;
    }
    // The list shown stays until the fresh one arrives (no flicker, no moment with the old choice).
    let stale = false;
    browser.tabs.sendMessage(request.tabId, { type: LIST_VIDEOS_MESSAGE }, { frameId: request.frameId }).then(
      (videos: unknown) => {
        if (!stale && Array.isArray(videos)) setPageVideos(videos as PageVideoEntry[]);
      },
      () => undefined,
    );
    return () => {
      stale = true;
    };
  }, [request, target, blockedOrigin]);

  /** Takes another video of the page: everything chosen for the previous one starts over. */
  async function chooseVideo(index: number) {
    if (!request) return;
    const video = (await browser.tabs
      .sendMessage(request.tabId, { type: CHOOSE_VIDEO_MESSAGE, index }, { frameId: request.frameId })
      .catch(() => null)) as VideoTarget | null;
    if (!video) return;
    setPageVideos((list) => list.map((entry) => ({ ...entry, current: entry.index === index })));
    setFacePoint(null);
    setSendBy(null);
    setClipTouched(false);
    setTarget(video);
  }

  // The preview frame: the element's own frame, else the tab capture cropped to where the video is.
  // A chosen file has none yet: its first frame is asked for below, like any other moment.
  useEffect(() => {
    setFrame(null);
    setFacePoint(null);
    setFaceTimeShown(null);
    setFaceTimeStatus(null);
    if (fileUrl) {
      setFaceTime(0);
      return;
    }
    setFaceTime(null);
    const timeSec = target?.currentTimeSec;
    const at = timeSec !== undefined ? { timeSec } : {};
    if (target?.frame) {
      void loadImage(target.frame).then(
        (image) =>
          setFrame({ url: image.src, image, width: image.naturalWidth, height: image.naturalHeight, ...at }),
        () => setFrame(null),
      );
      return;
    }
    if (!request?.tabCapture || !target) return;
    void (async () => {
      const shot = await loadImage(request.tabCapture!);
      const rect = videoRectInCapture(
        target.rect,
        { width: shot.naturalWidth, height: shot.naturalHeight },
        target.devicePixelRatio,
      );
      if (!rect) return;
      const blob = await cropToPng(shot, rect);
      const url = URL.createObjectURL(blob);
      const image = await loadImage(url);
      setFrame({ url, image, width: rect.width, height: rect.height, ...at });
    })().catch(() => setFrame(null));
  }, [request, target, fileUrl]);

  // A chosen file's frames come from a hidden element here (the preview element keeps its place).
  useEffect(() => {
    if (!fileUrl) return;
    const seeker = createFrameSeeker(fileUrl);
    fileSeeker.current = seeker;
    return () => {
      seeker.close();
      if (fileSeeker.current === seeker) fileSeeker.current = null;
    };
  }, [fileUrl]);

  // The face crop follows the mark.
  useEffect(() => {
    if (!frame || !facePoint) {
      setFacePreview(null);
      return;
    }
    let revoked = false;
    void cropToPng(frame.image, faceCropAround(facePoint, frame)).then((blob) => {
      if (revoked) return;
      setFacePreview({ blob, url: URL.createObjectURL(blob) });
    });
    return () => {
      revoked = true;
    };
  }, [frame, facePoint]);

  // The chosen file plays in the picker (preview, frames); its address lives as long as the choice.
  useEffect(() => {
    if (!videoFile) {
      setFileUrl(null);
      return;
    }
    const url = URL.createObjectURL(videoFile.file);
    setFileUrl(url);
    return () => URL.revokeObjectURL(url);
  }, [videoFile]);

  // Frames along the clip's track: from the chosen file here, from the page's file by the page
  // itself (another element, so its player does not move), or from an HLS stream's segments.
  // Other streams (recorded: the player would have to move) and unreadable pictures get none.
  useEffect(() => {
    setThumbnails([]);
    let stale = false;
    const stop = new AbortController();
    const show = (frames: unknown) => {
      if (!stale && Array.isArray(frames))
        setThumbnails(frames.filter((f): f is string => typeof f === 'string'));
    };
    if (fileUrl) void grabThumbnails(fileUrl).then(show);
    else if (request && target && (target.kind === 'url' || target.kind === 'page-file') && !blockedOrigin) {
      browser.tabs
        .sendMessage(request.tabId, { type: THUMBNAILS_MESSAGE }, { frameId: request.frameId })
        .then(show, () => undefined);
    } else if (
      request &&
      target?.hlsManifests?.length &&
      target.durationSec !== undefined &&
      chooseVideoIntake(target) === 'hls-from-page' &&
      !blockedOrigin
    ) {
      void hlsThumbnails(
        { tabId: request.tabId, frameId: request.frameId },
        { manifests: target.hlsManifests, durationSec: target.durationSec },
        { signal: stop.signal },
      ).then(show);
    }
    return () => {
      stale = true;
      stop.abort();
    };
  }, [fileUrl, request, target, blockedOrigin]);

  /** Plays the clip: the chosen file here, the page's video on the page itself. */
  async function previewClip(range: Clip) {
    const span = { start: formatClock(range.startSec), end: formatClock(range.endSec) };
    if (fileUrl && previewVideo.current) {
      setPreviewStatus(t('picker.previewHere'));
      await playRange(previewVideo.current, range, () =>
        setPreviewStatus(t('picker.previewPlayed', span)),
      ).catch(() => setPreviewStatus(t('picker.previewCannotPlay')));
      return;
    }
    if (!request) return;
    setPreviewStatus(t('picker.previewOnPageStarting'));
    const answer = (await browser.tabs
      .sendMessage(request.tabId, { type: PREVIEW_MESSAGE, ...range }, { frameId: request.frameId })
      .catch(() => null)) as { ok?: boolean } | null;
    setPreviewStatus(answer?.ok ? t('picker.previewOnPage', span) : t('picker.previewFailed'));
  }

  const provider = me?.provider ?? 'dashscope';
  const readyAudios = audios.filter((a): a is ReadyAudio => a.state === 'ready');
  const allAudiosReady = audios.length > 0 && readyAudios.length === audios.length;
  // The whole video's length: the clip chooser spans it.
  const sourceSec = videoFile ? videoFile.checked.meta.durationSec : target?.durationSec;
  const verdict = evaluatePick({
    target,
    ...(clip && { clip }),
    ...(videoFile && { videoFileMeta: videoFile.checked.meta }),
    ...(allAudiosReady && { audioMetas: readyAudios.map((a) => withRange(a.checked.meta, a.range)) }),
    videoExtension,
    sendBy,
    me,
  });
  const { intake, videoSec, outputSec, overBudget } = verdict;
  const remaining = verdict.remainingSec;
  const videoMeta =
    videoFile?.checked.meta ?? (target ? { width: target.width, height: target.height } : null);
  // Only the address can be sent from a player the extension may not read (the provider fetches it).
  const frameBlocked = !!blockedOrigin && !videoFile && intake !== 'by-url';
  const canSubmit = !!connection && verdict.ready && !frameBlocked && !submitting && !submitted;
  const recording = intake === 'record-from-page';
  const locked = submitting || !!submitted;
  // Why the button is disabled, said next to it (finding 17).
  const whyNot = canSubmit
    ? undefined
    : connection === null
      ? t('picker.whyNotConnected')
      : !me
        ? undefined
        : frameBlocked || intake === 'unavailable'
          ? t('picker.whyNoVideo')
          : verdict.videoProblems.length > 0
            ? t('picker.whyVideo')
            : !allAudiosReady
              ? t('picker.whyNoAudio')
              : verdict.audioProblems.length > 0
                ? t('picker.whyAudio')
                : overBudget
                  ? t('picker.whyBudget')
                  : undefined;
  // Streams must take a clip; a whole file of known length takes one too (the relay or this
  // browser cuts it), so a long video costs only the part the member chooses.
  const clipped = takesClip(intake) || (intake !== 'unavailable' && sourceSec !== undefined);
  // The whole video's length (the clip is shown in its own section).
  const wholeVideoSec = clipped ? sourceSec : videoSec;
  // The clip follows the longest audio (the part of it chosen), so no audio is cut short.
  const audioSec = readyAudios.reduce<number | undefined>((longest, a) => {
    const sec = withRange(a.checked.meta, a.range).durationSec;
    return sec === undefined ? longest : Math.max(longest ?? 0, sec);
  }, undefined);
  const currentSec = videoFile ? undefined : target?.currentTimeSec;

  // The proposed clip follows the audio's length until the member moves it.
  useEffect(() => {
    if (!clipped || clipTouched) return;
    setClip(
      defaultClip({
        ...(sourceSec !== undefined && { durationSec: sourceSec }),
        ...(currentSec !== undefined && { currentSec }),
        ...(audioSec !== undefined && { audioSec }),
      }),
    );
  }, [clipped, clipTouched, sourceSec, currentSec, audioSec]);

  // Other moments of the video for the face pick, never by moving the page's player: a chosen
  // file here, the page's file through a hidden copy in the page, an HLS stream by the segment
  // that holds the moment. A recorded stream (MSE) or a picture the page may not read has none.
  const faceSeek: FaceSeek | undefined =
    sourceSec === undefined
      ? undefined
      : fileUrl
        ? 'file'
        : !request || !target || blockedOrigin || target.protection
          ? undefined
          : (target.kind === 'url' || target.kind === 'page-file') && target.frame
            ? 'page'
            : intake === 'hls-from-page' && target.hlsManifests?.length
              ? 'hls'
              : undefined;

  useEffect(() => {
    if (faceTime === null || !faceSeek) return;
    let stale = false;
    const stop = new AbortController();
    const at = faceTime;
    setFaceTimeStatus('loading');
    const frameAt = async (): Promise<string | undefined> => {
      if (faceSeek === 'file') return fileSeeker.current?.at(at);
      if (!request) return undefined;
      const page = { tabId: request.tabId, frameId: request.frameId };
      if (faceSeek === 'hls')
        return hlsFrameAt(
          page,
          { manifests: target?.hlsManifests ?? [], timeSec: at },
          { signal: stop.signal },
        );
      const answer: unknown = await browser.tabs
        .sendMessage(request.tabId, { type: FRAME_AT_MESSAGE, timeSec: at }, { frameId: request.frameId })
        .catch(() => null);
      return typeof answer === 'string' ? answer : undefined;
    };
    void (async () => {
      const url = await frameAt();
      if (stale) return;
      if (!url) {
        setFaceTimeStatus('failed');
        return;
      }
      const image = await loadImage(url);
      if (stale) return;
      // The mark was on the frame before: the face is picked again on this one.
      setFacePoint(null);
      setFrame({ url, image, width: image.naturalWidth, height: image.naturalHeight, timeSec: at });
      setFaceTimeStatus(null);
    })().catch(() => {
      if (!stale) setFaceTimeStatus('failed');
    });
    return () => {
      stale = true;
      stop.abort();
    };
  }, [faceTime, faceSeek, request, target]);

  /** Reads (and converts to WAV when needed) one audio; `report` sees each state. */
  async function readAudio(choice: AudioChoice, report: (state: AudioState) => void) {
    const name = choice.from === 'file' ? choice.file.name : hostOf(choice.url);
    // A voice track longer than a job may be: its first 2 min are proposed, open to move.
    const ready = (choice: AudioChoice, name: string, meta: MediaMeta): AudioState => {
      const range = defaultAudioRange(meta.durationSec);
      return {
        state: 'ready',
        choice,
        name,
        checked: check(meta, provider),
        ...(range && { range, rangeProposed: true }),
      };
    };
    report({ state: 'probing', name });
    try {
      if (choice.from === 'url') {
        report(ready(choice, name, await probeAudioUrl(choice.url)));
        return;
      }
      let meta = await probeAudioFile(choice.file);
      // M4A, Ogg/Opus, WebM, FLAC…: the provider takes WAV, MP3 or AAC, so the browser converts it.
      if (needsConversion(meta.format)) {
        report({ state: 'probing', name: t('picker.converting', { name }) });
        const file = await convertToWav(choice.file);
        meta = await probeAudioFile(file);
        report(ready({ from: 'file', file }, t('picker.converted', { name }), meta));
        return;
      }
      report(ready(choice, name, meta));
    } catch (error) {
      report({ state: 'error', message: toErrorMessage(error) });
    }
  }

  function chooseAudio(choice: AudioChoice) {
    setAudios([{ state: 'probing', name: '' }]);
    void readAudio(choice, (state) => setAudios([state]));
  }

  /** Several files: one job each. They are read one after another (conversions are heavy). */
  async function chooseAudioFiles(files: File[]) {
    setAudios(files.map((file) => ({ state: 'probing', name: file.name })));
    for (const [index, file] of files.entries()) {
      await readAudio({ from: 'file', file }, (state) =>
        setAudios((all) => all.map((old, i) => (i === index ? state : old))),
      );
    }
  }

  /** The member moved the part of audio `index` to use (undefined: all of it). */
  function setAudioRange(index: number, range: Clip | undefined) {
    setAudios((all) =>
      all.map((audio, i) => {
        if (i !== index || audio.state !== 'ready') return audio;
        const { range: _old, rangeProposed: _proposed, ...rest } = audio;
        return range ? { ...rest, range } : rest;
      }),
    );
  }

  async function chooseVideoFile(file: File) {
    setClipTouched(false);
    setVideoFile({ file, checked: check(await probeVideoFile(file), provider) });
  }

  async function submit() {
    if (!connection || !request || !allAudiosReady) return;
    setSubmitting(true);
    setSubmitError(null);
    setCanceled(false);
    stepsSoFar.current = {};
    setSteps({});
    const controller = new AbortController();
    stopSubmit.current = controller;
    // A clip that is the whole file is no clip: the file goes as it is.
    const part =
      clip && sourceSec !== undefined && !(clip.startSec <= 0.05 && clip.endSec >= sourceSec - 0.05)
        ? { clip }
        : {};
    let video: GroupPlan['video'];
    if (videoFile) video = { from: 'file', file: videoFile.file, ...part };
    else if (intake === 'by-url' && target) {
      const page = { tabId: request.tabId, frameId: request.frameId, src: target.src };
      video = {
        from: 'url',
        url: target.src,
        ...part,
        // The relay may refuse the address (a private or LAN host): the page can still read it.
        ...(!blockedOrigin && {
          fallback: {
            filename: videoFilename(target.src),
            read: (onProgress) => readVideoFromPage(page, { onProgress }),
          },
        }),
      };
    } else if (takesClip(intake) && clip) {
      const page = { tabId: request.tabId, frameId: request.frameId };
      const record: Extract<GroupPlan['video'], { from: 'recording' }>['record'] = (onProgress) =>
        recordVideoFromPage(page, clip, { onProgress, signal: controller.signal });
      const manifests = target?.hlsManifests ?? [];
      video =
        intake === 'hls-from-page'
          ? {
              from: 'stream',
              record,
              fetch: async (onStep) => {
                const label = t('step.fetchClip');
                const fetched = await fetchHlsClipFromPage(
                  page,
                  { manifests, ...clip },
                  {
                    signal: controller.signal,
                    onProgress: (loadedBytes) =>
                      onStep({ step: 'fetch-video', label, loadedBytes, totalBytes: 0 }),
                  },
                );
                onStep({ step: 'cut-video', label: t('step.cutClip'), loadedBytes: 0, totalBytes: 0 });
                // Copied from the key frame at or before the start (a segment starts with one), no
                // re-encode here; the relay trims the exact frame when the clip starts between.
                return cutAtKeyFrame(
                  fetched.blob,
                  { startSec: clip.startSec - fetched.startSec, endSec: clip.endSec - fetched.startSec },
                  controller.signal,
                  fetched.startSec,
                );
              },
            }
          : { from: 'recording', record };
    } else if (target) {
      video = {
        from: 'page',
        filename: videoFilename(target.src),
        ...part,
        read: (onProgress) =>
          readVideoFromPage(
            { tabId: request.tabId, frameId: request.frameId, src: target.src },
            { onProgress },
          ),
      };
    } else return;
    const thumbnail = frame ? thumbnailOf(frame.image) : undefined;
    try {
      const jobs = await submitJobs(
        connection,
        {
          video,
          audios: readyAudios.map((a) =>
            a.range && isPartOf(a.range, a.checked.meta.durationSec)
              ? { ...a.choice, clip: a.range }
              : a.choice,
          ),
          ...(facePreview && { face: facePreview.blob }),
          videoExtension,
          ...(faceThreshold !== null && { faceThreshold }),
          title: request.pageTitle || (request.fromFiles && videoFile?.file.name) || hostOf(request.pageUrl),
          ...(request.pageUrl && { sourcePageUrl: request.pageUrl }),
          ...(readyAudios[0] && { audioName: readyAudios[0].name }),
          ...(thumbnail && { thumbnail }),
        },
        {
          idempotencyKey,
          signal: controller.signal,
          onStep: (step) => {
            stepsSoFar.current = { ...stepsSoFar.current, [step.step]: step };
            setSteps(stepsSoFar.current);
          },
        },
      );
      setSubmitted(jobs);
    } catch (error) {
      if (controller.signal.aborted) {
        setCanceled(
          stepsSoFar.current['upload-audio'] === undefined && stepsSoFar.current['record-video']
            ? 'recording'
            : 'sending',
        );
        setSteps({});
      } else setSubmitError(toErrorMessage(error));
    } finally {
      stopSubmit.current = null;
      setSubmitting(false);
    }
  }

  if (!request) {
    return (
      <main class="picker">
        <div class="notice bad" role="alert">
          {t('picker.noRequest')}
        </div>
      </main>
    );
  }

  return (
    <main class="picker">
      <h1>{request.fromFiles ? t('picker.titleFiles') : t('picker.title')}</h1>

      {connection === null && (
        <div class="notice bad" role="alert">
          {t('picker.notConnectedBefore')}{' '}
          <button type="button" class="link" onClick={() => browser.runtime.openOptionsPage()}>
            {t('common.openSettings')}
          </button>{' '}
          {t('picker.notConnectedAfter')}
        </div>
      )}
      {meError && (
        <div class="notice bad" role="alert">
          {t('picker.relayNoAnswer', { reason: meError })}
        </div>
      )}

      {/* Nothing can change once the inputs are being sent or the job exists (finding 20). */}
      <fieldset class="picker-form" disabled={locked}>
        <section aria-labelledby="video-heading" class="section">
          <h2 id="video-heading">{t('picker.video')}</h2>
          <div class="row video-row">
            {frame ? (
              <img class="thumb" src={frame.url} alt={t('picker.previewAlt')} />
            ) : (
              <div class="thumb placeholder" aria-hidden="true">
                ▶
              </div>
            )}
            <div class="grow video-info">
              {request.fromFiles ? (
                <strong class="ellipsis">
                  {videoFile ? videoFile.file.name : t('picker.chooseVideoFile')}
                </strong>
              ) : (
                <>
                  <strong class="ellipsis" title={request.pageTitle}>
                    {request.pageTitle || t('picker.untitledPage')}
                  </strong>
                  <div class="muted ellipsis" title={request.pageUrl}>
                    {hostOf(request.pageUrl)}
                  </div>
                </>
              )}
              <div class="muted" data-testid="video-meta">
                {wholeVideoSec !== undefined ? formatSeconds(wholeVideoSec) : t('common.durationUnknown')}
                {videoMeta?.width ? ` · ${videoMeta.width}×${videoMeta.height}` : ''}
              </div>
            </div>
          </div>
          {!videoFile && <VideoSwitcher videos={pageVideos} onChoose={(index) => void chooseVideo(index)} />}
          {frameBlocked && blockedOrigin && (
            <div class="notice warn" role="alert" data-testid="frame-access">
              <p>
                {t('picker.frameAccessBefore')} <strong>{hostOf(blockedOrigin)}</strong>
                {t('picker.frameAccessAfter')}
              </p>
              <button type="button" class="primary" onClick={() => void allowFrame()}>
                {t('picker.allowAccess', { host: hostOf(blockedOrigin) })}
              </button>
              {frameAccessError && <p data-testid="frame-access-error">{frameAccessError}</p>}
            </div>
          )}
          {!videoFile && intake === 'by-url' && <p class="hint">{t('picker.byUrlHint')}</p>}
          {!videoFile && intake === 'upload-from-page' && !frameBlocked && (
            <p class="hint">
              {target?.kind === 'page-file' ? t('picker.uploadHintPageFile') : t('picker.uploadHintPrivate')}
            </p>
          )}
          {!videoFile && intake === 'hls-from-page' && (
            <p class="hint" data-testid="hls-hint">
              {t('picker.hlsHint')}
            </p>
          )}
          {!videoFile && recording && (
            <p class="hint" data-testid="record-hint">
              {t('picker.recordHint')} <strong>{t('picker.recordHintRealTime')}</strong>
              {t('picker.recordHintAfter')}
            </p>
          )}
          {!videoFile && intake === 'unavailable' && !request.fromFiles && (
            <div class="notice warn" role="alert" data-testid="stream-explainer">
              {target?.protection ? (
                protectionAdvice(target.protection)
              ) : target?.kind === 'stream' ? (
                <>
                  <strong>{t('picker.streamNotLoaded')}</strong> {t('picker.streamNotLoadedTodo')}
                </>
              ) : (
                t('picker.noSource')
              )}
            </div>
          )}
          {!videoFile && target?.kind === 'url' && (
            <fieldset class="send-by">
              <legend>{t('picker.sendVideo')}</legend>
              <label class="check">
                <input
                  type="radio"
                  name="send-by"
                  value="by-url"
                  checked={intake === 'by-url'}
                  onChange={() => setSendBy('by-url')}
                />
                {t('picker.sendByUrl')}
              </label>
              <label class="check">
                <input
                  type="radio"
                  name="send-by"
                  value="upload-from-page"
                  checked={intake === 'upload-from-page'}
                  onChange={() => setSendBy('upload-from-page')}
                />
                {t('picker.sendUpload')}
              </label>
            </fieldset>
          )}
          <details class="video-file" open={request.fromFiles || intake === 'unavailable'}>
            <summary>{request.fromFiles ? t('picker.videoFile') : t('picker.useVideoFile')}</summary>
            {/* Styled like the audio drop zone; the input stays focusable, its focus ring on the label (finding 23). */}
            <label for="video-file" class="drop video-drop">
              <span class="drop-title">{videoFile ? videoFile.file.name : t('picker.videoFile')}</span>
              <span class="muted">{t('picker.videoFileHint')}</span>
            </label>
            <input
              id="video-file"
              class="sr-only"
              type="file"
              accept="video/mp4,video/quicktime,.mp4,.mov,.avi"
              onChange={(e) => {
                const file = e.currentTarget.files?.[0];
                if (file) void chooseVideoFile(file);
              }}
            />
            {videoFile && (
              <p class="hint">
                {t('picker.usingFile', { name: videoFile.file.name, size: formatBytes(videoFile.file.size) })}
              </p>
            )}
          </details>
          <ProblemList title={t('picker.videoProblems')} problems={verdict.videoProblems} />
        </section>

        {clipped && clip && (
          <section aria-labelledby="clip-heading" class="section">
            <h2 id="clip-heading">{t('picker.clip')}</h2>
            <p class="hint">{t('picker.clipHint')}</p>
            <ClipChooser
              clip={clip}
              {...(sourceSec !== undefined && { durationSec: sourceSec })}
              {...(currentSec !== undefined && { currentSec })}
              thumbnails={thumbnails}
              disabled={submitting || !!submitted}
              onChange={(next) => {
                setClipTouched(true);
                setClip(next);
              }}
              onPreview={frameBlocked ? undefined : (range) => void previewClip(range)}
              previewStatus={previewStatus}
            />
            {fileUrl && (
              <video
                ref={previewVideo}
                class="clip-preview-video"
                src={fileUrl}
                muted
                playsInline
                preload="metadata"
                data-testid="clip-preview-video"
              />
            )}
          </section>
        )}

        <section aria-labelledby="audio-heading" class="section">
          <h2 id="audio-heading">{t('picker.audio')}</h2>
          <AudioInput
            onChoose={chooseAudio}
            onChooseFiles={(files) => void chooseAudioFiles(files)}
            disabled={submitting || !!submitted}
          />
          <div aria-live="polite" data-testid="audio-status">
            {audios.length > 1 && (
              <p data-testid="audio-group">
                <strong>{t('picker.audioGroup', { count: formatNumber(audios.length) })}</strong>{' '}
                {t('picker.audioGroupHint')}
              </p>
            )}
            {audios.map((audio, index) => (
              <AudioLine
                key={index}
                index={index}
                audio={audio}
                disabled={locked}
                onRange={(range) => setAudioRange(index, range)}
                problems={verdict.perAudio[index]?.problems ?? []}
                {...(audios.length > 1 &&
                  verdict.perAudio[index]?.outputSec !== undefined && {
                    outputSec: verdict.perAudio[index]?.outputSec,
                  })}
              />
            ))}
          </div>
          <label class="check">
            <input
              type="checkbox"
              checked={videoExtension}
              onChange={(e) => setVideoExtension(e.currentTarget.checked)}
            />
            {t('picker.extend')}
          </label>
          <p class="hint">{t('picker.extendHint')}</p>
        </section>

        {(frame || faceSeek === 'file') && (videoFile || intake !== 'unavailable') && (
          <section aria-labelledby="face-heading" class="section">
            <h2 id="face-heading">{t('picker.face')}</h2>
            <p class="hint">{t('picker.faceHint')}</p>
            {faceSeek && sourceSec !== undefined ? (
              <FaceTime
                durationSec={sourceSec}
                shownSec={faceTimeShown ?? faceTime ?? frame?.timeSec ?? 0}
                frameSec={frame?.timeSec}
                status={faceTimeStatus}
                onInput={setFaceTimeShown}
                onChange={(sec) => {
                  setFaceTimeShown(sec);
                  setFaceTime(sec);
                }}
              />
            ) : (
              <p class="hint" data-testid="face-no-seek">
                {intake === 'record-from-page' ? t('picker.faceNoSeekRecorded') : t('picker.faceNoSeek')}
              </p>
            )}
            {frame && (
              <div class="row face-row">
                <div class="grow">
                  <FacePicker
                    frameUrl={frame.url}
                    frameSize={frame}
                    point={facePoint}
                    onPick={setFacePoint}
                  />
                </div>
                {facePreview && (
                  <div class="face-preview">
                    <img src={facePreview.url} alt={t('picker.faceAlt')} />
                    {frame.timeSec !== undefined && (
                      <span class="muted" data-testid="face-from">
                        {t('picker.faceFrom', { time: formatClock(frame.timeSec) })}
                      </span>
                    )}
                    <button type="button" class="link" onClick={() => setFacePoint(null)}>
                      {t('common.clear')}
                    </button>
                  </div>
                )}
              </div>
            )}
          </section>
        )}

        <details class="section advanced">
          <summary>{t('picker.advanced')}</summary>
          <label for="face-threshold">
            {t('picker.threshold', {
              value:
                faceThreshold === null
                  ? t('picker.thresholdDefault', { value: formatNumber(DEFAULT_FACE_THRESHOLD) })
                  : formatNumber(faceThreshold),
            })}
          </label>
          <input
            id="face-threshold"
            type="range"
            min={120}
            max={200}
            step={1}
            value={faceThreshold ?? DEFAULT_FACE_THRESHOLD}
            onInput={(e) => setFaceThreshold(Number(e.currentTarget.value))}
          />
          <p class="hint">{t('picker.thresholdHint')}</p>
          {faceThreshold !== null && (
            <button type="button" class="link" onClick={() => setFaceThreshold(null)}>
              {t('picker.backToDefault')}
            </button>
          )}
        </details>
      </fieldset>

      {/* Cost and the primary action stay in view however long the form is (finding 4). */}
      <footer class="section submit">
        <div class="cost" aria-live="polite" data-testid="cost">
          {outputSec !== undefined &&
          verdict.videoProblems.length + verdict.audioProblems.length === 0 &&
          audios.length > 1 ? (
            <p>
              {t('picker.groupCostBefore', { count: formatNumber(audios.length) })}{' '}
              <strong>{formatSeconds(outputSec)}</strong> {t('picker.groupCostAfter')}
            </p>
          ) : outputSec !== undefined && verdict.videoProblems.length + verdict.audioProblems.length === 0 ? (
            <p>
              {t('picker.costBefore')} <strong>{formatSeconds(outputSec)}</strong> {t('picker.costAfter')}
            </p>
          ) : (
            <p class="muted">{t('picker.costUnknown')}</p>
          )}
          {me && (
            <p class="muted">
              {describeBudget(me)} · {providerName(me)}
            </p>
          )}
          {overBudget && (
            <div class="notice bad" role="alert">
              {t('picker.overBudget', {
                needed: formatSeconds(outputSec ?? 0),
                left: formatSeconds(remaining ?? 0),
              })}
            </div>
          )}
        </div>
        {Object.values(steps).map((step) =>
          step.unit === 'seconds' ? (
            <div key={step.step} class="step" data-testid="recording">
              <div class="row">
                <span class="grow">
                  {t('picker.recordingClock', {
                    at: formatClock(Math.floor(step.loadedBytes)),
                    total: formatClock(step.totalBytes),
                  })}
                </span>
                {submitting && steps['upload-audio'] === undefined && (
                  <button type="button" onClick={() => stopSubmit.current?.abort()}>
                    {t('common.cancel')}
                  </button>
                )}
              </div>
              <ProgressBar value={(step.loadedBytes / step.totalBytes) * 100} label={t('picker.recording')} />
            </div>
          ) : (
            <div key={step.step} class="step" data-step={step.step}>
              <div class="row">
                <span class="grow">{step.label}</span>
                {step.totalBytes > 0 && (
                  <span class="muted">
                    {formatBytes(step.loadedBytes)} / {formatBytes(step.totalBytes)}
                  </span>
                )}
              </div>
              {step.totalBytes > 0 && (
                <ProgressBar value={(step.loadedBytes / step.totalBytes) * 100} label={step.label} />
              )}
            </div>
          ),
        )}
        {canceled && (
          <div class="notice" role="status" data-testid="canceled">
            {canceled === 'recording' ? t('picker.recordingCanceled') : t('picker.sendCanceled')}
          </div>
        )}
        {submitError && (
          <div class="notice bad" role="alert" data-testid="submit-error">
            {submitError}
          </div>
        )}
        {submitted && connection ? (
          <div class="notice ok" role="status" data-testid="submitted">
            <p>
              {submitted.length > 1 ? (
                <>
                  <strong>{t('picker.jobsStarted', { count: formatNumber(submitted.length) })}</strong>{' '}
                  {t('picker.jobsStartedFollow')}
                </>
              ) : (
                <>
                  <strong>{t('picker.jobStarted')}</strong> {t('picker.jobStartedFollow')}
                </>
              )}
            </p>
            <PinHint />
            <LiveJobs connection={connection} jobs={submitted} />
            <button type="button" onClick={() => window.close()}>
              {t('picker.closeWindow')}
            </button>
          </div>
        ) : (
          <>
            {!submitting && whyNot && (
              <p class="hint" id="submit-why" data-testid="submit-why">
                {whyNot}
              </p>
            )}
            {/* Cancel while the inputs are read or uploaded, until the job is being created. */}
            {submitting &&
              steps.create === undefined &&
              !(steps['record-video'] && steps['upload-audio'] === undefined) && (
                <button type="button" onClick={() => stopSubmit.current?.abort()} data-testid="cancel-send">
                  {t('common.cancel')}
                </button>
              )}
            <button
              type="button"
              class="primary big"
              disabled={!canSubmit}
              aria-describedby={!submitting && whyNot ? 'submit-why' : undefined}
              onClick={() => void submit()}
            >
              {submitting
                ? steps['record-video'] && !steps['upload-video']
                  ? t('picker.recordingBusy')
                  : t('picker.sending')
                : outputSec !== undefined
                  ? audios.length > 1
                    ? t('picker.submitGroupWithCost', {
                        count: formatNumber(audios.length),
                        cost: formatSeconds(outputSec),
                      })
                    : t('picker.submitWithCost', { cost: formatSeconds(outputSec) })
                  : t('picker.submit')}
            </button>
          </>
        )}
      </footer>
    </main>
  );
}
