/** A file name the providers' storage accepts: the base name, unsafe characters as `_`, at most 120 characters. */
export function safeFilename(name: string): string {
  const base = name.split(/[\\/]/).pop() ?? 'file';
  return base.replace(/[^\w.-]+/g, '_').slice(-120) || 'file';
}
