/*
 * File-system helpers for crash-safe storage.  The rule for anything that
 * must survive a crash: write to a temporary name, fsync the file, rename
 * over the final name, fsync the directory.  A reader then sees either the
 * old or the new version, never a torn one.
 */
#ifndef TS_UTIL_FS_H
#define TS_UTIL_FS_H

#include <stddef.h>
#include <stdint.h>

/* mkdir -p; TS_OK if it already exists. */
int ts_fs_mkdir_all(const char *path, int mode);
/* rm -rf; TS_OK if it does not exist. */
int ts_fs_remove_all(const char *path);
/* fsync a directory (after creating, renaming or removing entries in it). */
int ts_fs_fsync_dir(const char *path);
/* Reads a whole file of at most max bytes into *out (NUL-terminated, caller
 * frees with ts_free).  TS_ELIMIT if larger. */
int ts_fs_read_file(const char *path, size_t max, char **out, size_t *len);
/* Writes data to path atomically (tmp + fsync + rename + fsync dir). */
int ts_fs_write_file_atomic(const char *path, const void *data, size_t len);
/* Sum of the sizes of regular files under path (recursively). */
int64_t ts_fs_dir_size(const char *path);
/* 1 if path exists (any type), else 0. */
int ts_fs_exists(const char *path);
/* write(2) all of it, retrying on EINTR / short writes. */
int ts_fs_write_all(int fd, const void *p, size_t n);
/* pread(2) exactly n bytes; TS_ECORRUPT on a short read (file too short). */
int ts_fs_pread_all(int fd, void *p, size_t n, int64_t off);

#endif
