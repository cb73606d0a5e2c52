#include "pkg/util/fs.h"
#include "pkg/util/err.h"
#include "pkg/util/mem.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int
ts_fs_mkdir_all(const char *path, int mode)
{
    char tmp[4096];
    size_t n = strlen(path);
    if (n == 0 || n >= sizeof(tmp))
        return TS_EINVAL;
    memcpy(tmp, path, n + 1);
    for (size_t i = 1; i <= n; i++) {
        if (tmp[i] == '/' || tmp[i] == '\0') {
            char c = tmp[i];
            tmp[i] = '\0';
            if (mkdir(tmp, (mode_t)mode) != 0 && errno != EEXIST)
                return -errno;
            tmp[i] = c;
        }
    }
    struct stat st;
    if (stat(path, &st) != 0)
        return -errno;
    return S_ISDIR(st.st_mode) ? TS_OK : -ENOTDIR;
}

int
ts_fs_remove_all(const char *path)
{
    struct stat st;
    if (lstat(path, &st) != 0)
        return errno == ENOENT ? TS_OK : -errno;
    if (!S_ISDIR(st.st_mode))
        return unlink(path) == 0 ? TS_OK : -errno;
    DIR *d = opendir(path);
    if (!d)
        return -errno;
    struct dirent *e;
    int rc = TS_OK;
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        char child[4096];
        if (snprintf(child, sizeof(child), "%s/%s", path, e->d_name) >= (int)sizeof(child)) {
            rc = TS_EINVAL;
            continue;
        }
        int r = ts_fs_remove_all(child);
        if (r)
            rc = r;
    }
    closedir(d);
    if (rmdir(path) != 0 && rc == TS_OK)
        rc = -errno;
    return rc;
}

int
ts_fs_fsync_dir(const char *path)
{
    int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    int rc = fsync(fd) == 0 ? TS_OK : -errno;
    close(fd);
    return rc;
}

int
ts_fs_read_file(const char *path, size_t max, char **out, size_t *len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int e = -errno;
        close(fd);
        return e;
    }
    if (max && (size_t)st.st_size > max) {
        close(fd);
        return TS_ELIMIT;
    }
    size_t cap = (size_t)st.st_size + 1, n = 0;
    char *p = ts_malloc(cap);
    for (;;) {
        if (n + 1 >= cap) {
            if (max && cap > max) {
                ts_free(p);
                close(fd);
                return TS_ELIMIT;
            }
            cap *= 2;
            p = ts_realloc(p, cap);
        }
        ssize_t r = read(fd, p + n, cap - n - 1);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            int e = -errno;
            ts_free(p);
            close(fd);
            return e;
        }
        if (r == 0)
            break;
        n += (size_t)r;
    }
    close(fd);
    if (max && n > max) {
        ts_free(p);
        return TS_ELIMIT;
    }
    p[n] = '\0';
    *out = p;
    if (len)
        *len = n;
    return TS_OK;
}

int
ts_fs_write_all(int fd, const void *data, size_t n)
{
    const char *p = data;
    while (n) {
        ssize_t w = write(fd, p, n);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        p += w;
        n -= (size_t)w;
    }
    return TS_OK;
}

int
ts_fs_pread_all(int fd, void *data, size_t n, int64_t off)
{
    char *p = data;
    while (n) {
        ssize_t r = pread(fd, p, n, (off_t)off);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        if (r == 0)
            return TS_ECORRUPT;
        p += r;
        n -= (size_t)r;
        off += r;
    }
    return TS_OK;
}

int
ts_fs_write_file_atomic(const char *path, const void *data, size_t len)
{
    char tmp[4096], dir[4096];
    if (snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= (int)sizeof(tmp))
        return TS_EINVAL;
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        return -errno;
    int rc = ts_fs_write_all(fd, data, len);
    if (rc == TS_OK && fsync(fd) != 0)
        rc = -errno;
    close(fd);
    if (rc == TS_OK && rename(tmp, path) != 0)
        rc = -errno;
    if (rc != TS_OK) {
        unlink(tmp);
        return rc;
    }
    snprintf(dir, sizeof(dir), "%s", path);
    char *slash = strrchr(dir, '/');
    if (slash) {
        *slash = '\0';
        return ts_fs_fsync_dir(dir[0] ? dir : "/");
    }
    return ts_fs_fsync_dir(".");
}

int64_t
ts_fs_dir_size(const char *path)
{
    struct stat st;
    if (lstat(path, &st) != 0)
        return 0;
    if (!S_ISDIR(st.st_mode))
        return S_ISREG(st.st_mode) ? (int64_t)st.st_size : 0;
    DIR *d = opendir(path);
    if (!d)
        return 0;
    int64_t total = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        char child[4096];
        if (snprintf(child, sizeof(child), "%s/%s", path, e->d_name) < (int)sizeof(child))
            total += ts_fs_dir_size(child);
    }
    closedir(d);
    return total;
}

int
ts_fs_exists(const char *path)
{
    struct stat st;
    return lstat(path, &st) == 0;
}
