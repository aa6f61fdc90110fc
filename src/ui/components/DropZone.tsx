/**
 * Where a person drops a folder, a .zip or files — or clicks to pick them. Folders dropped are walked
 * (webkitGetAsEntry) into files with their relative paths; nothing is read here: the Blobs go to the
 * worker as they are.
 */
import { useId, useRef, useState, type DragEvent, type ReactNode } from 'react';
import type { PickedFile } from '../../shared/engineApi.ts';

async function entryFiles(entry: FileSystemEntry, prefix: string): Promise<PickedFile[]> {
  if (entry.isFile) {
    const file = await new Promise<File>((resolve, reject) => (entry as FileSystemFileEntry).file(resolve, reject));
    return [{ path: `${prefix}${entry.name}`, file }];
  }
  const reader = (entry as FileSystemDirectoryEntry).createReader();
  const entries: FileSystemEntry[] = [];
  // readEntries gives at most ~100 at a time: read until it gives none.
  for (;;) {
    const batch = await new Promise<FileSystemEntry[]>((resolve, reject) => reader.readEntries(resolve, reject));
    if (batch.length === 0) break;
    entries.push(...batch);
  }
  const nested = await Promise.all(entries.map((e) => entryFiles(e, `${prefix}${entry.name}/`)));
  return nested.flat();
}

export async function droppedFiles(transfer: DataTransfer): Promise<PickedFile[]> {
  const entries = [...transfer.items].map((item) => item.webkitGetAsEntry?.()).filter((e): e is FileSystemEntry => Boolean(e));
  if (entries.length > 0) return (await Promise.all(entries.map((e) => entryFiles(e, '')))).flat();
  return [...transfer.files].map((file) => ({ path: file.name, file }));
}

function inputFiles(list: FileList | null): PickedFile[] {
  return [...(list ?? [])].map((file) => ({ path: file.webkitRelativePath || file.name, file }));
}

export function DropZone({ title, hint, accept, folder = false, multiple = true, disabled, onFiles, testId, children }: {
  title: string;
  hint: string;
  accept?: string;
  /** Offer a folder picker besides the file picker. */
  folder?: boolean;
  multiple?: boolean;
  disabled?: boolean;
  onFiles: (files: PickedFile[], label: string) => void;
  testId: string;
  children?: ReactNode;
}) {
  const [over, setOver] = useState(false);
  const fileInput = useRef<HTMLInputElement>(null);
  const folderInput = useRef<HTMLInputElement>(null);
  const id = useId();
  const deliver = (files: PickedFile[]) => {
    if (files.length === 0) return;
    const top = files[0].path.includes('/') ? files[0].path.split('/')[0] : files.length === 1 ? files[0].path : `${files.length} files`;
    onFiles(files, top);
  };
  const onDrop = async (event: DragEvent) => {
    event.preventDefault();
    setOver(false);
    if (!disabled) deliver(await droppedFiles(event.dataTransfer));
  };
  return (
    <div
      className={`dropzone${over ? ' over' : ''}${disabled ? ' disabled' : ''}`}
      data-testid={testId}
      onDragOver={(e) => { e.preventDefault(); setOver(true); }}
      onDragLeave={() => setOver(false)}
      onDrop={onDrop}
    >
      <div className="dropzone-title">{title}</div>
      <div className="muted">{hint}</div>
      <div className="dropzone-buttons">
        <button type="button" disabled={disabled} onClick={() => fileInput.current?.click()}>Choose file{multiple ? 's' : ''}…</button>
        {folder && <button type="button" disabled={disabled} onClick={() => folderInput.current?.click()}>Choose a folder…</button>}
        {children}
      </div>
      <input ref={fileInput} id={`${id}-files`} data-testid={`${testId}-files`} type="file" hidden accept={accept} multiple={multiple}
        onChange={(e) => { deliver(inputFiles(e.target.files)); e.target.value = ''; }} />
      {folder && (
        <input ref={folderInput} data-testid={`${testId}-folder`} type="file" hidden
          {...{ webkitdirectory: '', directory: '' } as Record<string, string>}
          onChange={(e) => { deliver(inputFiles(e.target.files)); e.target.value = ''; }} />
      )}
    </div>
  );
}
