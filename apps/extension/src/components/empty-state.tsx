export function EmptyState() {
  return (
    <div class="empty">
      <div class="empty-art" aria-hidden="true">
        ▶
      </div>
      <h2>No lip-sync jobs yet</h2>
      <p>
        On any page, <strong>right-click a video</strong> and choose <strong>“Lip-sync this video…”</strong>.
        Then pick an audio file and follow the job here.
      </p>
      <p class="muted">
        If a player hides the video’s own menu, right-click it anyway and choose “Lip-sync the video under the
        pointer…”.
      </p>
    </div>
  );
}
