// huggingface_hub's cache layout, so a cache filled by Python is reused and vice versa:
//   <cache>/models--<org>--<name>/
//     blobs/<etag>                      file contents, named by etag (sha256 for LFS files,
//                                       git blob sha1 for the others); <etag>.incomplete while downloading
//     refs/<revision>                   the commit hash a branch or tag pointed to
//     snapshots/<commit>/<file>         relative symlink to ../../blobs/<etag>
//     .no_exist/<commit>/<file>         empty: the file is known to be absent at that commit
//   <cache>/.locks/models--<org>--<name>/<etag>.lock   flock held while a blob is written
import { existsSync } from 'node:fs';
import { copyFile, mkdir, readFile, rename, rm, symlink, writeFile } from 'node:fs/promises';
import { basename, dirname, join, relative } from 'node:path';

export class RepoCache {
  readonly root: string;

  constructor(cacheDir: string, repoId: string) {
    this.root = join(cacheDir, `models--${repoId.split('/').join('--')}`);
  }

  blob(etag: string): string {
    return join(this.root, 'blobs', etag);
  }

  incomplete(etag: string): string {
    return `${this.blob(etag)}.incomplete`;
  }

  /** huggingface_hub's lock file for writing this blob. */
  lock(etag: string): string {
    return join(dirname(this.root), '.locks', basename(this.root), `${etag}.lock`);
  }

  snapshotDir(commit: string): string {
    return join(this.root, 'snapshots', commit);
  }

  snapshotFile(commit: string, file: string): string {
    return join(this.snapshotDir(commit), file);
  }

  noExistFile(commit: string, file: string): string {
    return join(this.root, '.no_exist', commit, file);
  }

  /** The commit a branch or tag pointed to when last seen, or undefined. */
  async readRef(revision: string): Promise<string | undefined> {
    try {
      const commit = (await readFile(join(this.root, 'refs', revision), 'utf8')).trim();
      return commit === '' ? undefined : commit;
    } catch {
      return undefined;
    }
  }

  async writeRef(revision: string, commit: string): Promise<void> {
    const path = join(this.root, 'refs', revision);
    if ((await this.readRef(revision)) === commit) return;
    await mkdir(dirname(path), { recursive: true });
    const temp = `${path}.tmp-${process.pid}-${Math.random().toString(36).slice(2)}`;
    await writeFile(temp, commit); // no newline, as huggingface_hub writes it
    await rename(temp, path);
  }

  /** A present file, or a 404 remembered in .no_exist (the file is known not to exist). */
  known(commit: string, file: string): 'present' | 'absent' | 'unknown' {
    if (existsSync(this.snapshotFile(commit, file))) return 'present';
    return existsSync(this.noExistFile(commit, file)) ? 'absent' : 'unknown';
  }

  async markAbsent(commit: string, file: string): Promise<void> {
    const path = this.noExistFile(commit, file);
    await mkdir(dirname(path), { recursive: true });
    await writeFile(path, '');
  }

  /** Points snapshots/<commit>/<file> at blobs/<etag> with a relative symlink (a copy where symlinks fail). */
  async link(commit: string, file: string, etag: string): Promise<string> {
    const pointer = this.snapshotFile(commit, file);
    const blob = this.blob(etag);
    await mkdir(dirname(pointer), { recursive: true });
    // Made under a temporary name and renamed: a concurrent reader sees the old link or the new one.
    const temp = `${pointer}.tmp-${process.pid}-${Math.random().toString(36).slice(2)}`;
    try {
      await symlink(relative(dirname(pointer), blob), temp);
    } catch {
      await copyFile(blob, temp);
    }
    try {
      await rename(temp, pointer);
    } finally {
      await rm(temp, { force: true });
    }
    return pointer;
  }
}
