import { browser } from 'wxt/browser';

/**
 * Whether to ask the member to pin the toolbar button: Chrome hides a new extension's button in
 * the Extensions menu, and with it the badge of running jobs (finding 5). Chrome tells whether
 * it is on the toolbar (`action.getUserSettings`); Firefox shows the button from the start.
 */
export async function needsPinHint(): Promise<boolean> {
  const action = browser.action as
    | (typeof browser.action & { getUserSettings?: () => Promise<{ isOnToolbar?: boolean }> })
    | undefined;
  if (typeof action?.getUserSettings !== 'function') return false;
  try {
    return (await action.getUserSettings()).isOnToolbar === false;
  } catch {
    return false;
  }
}
