/* record_io: an LD_PRELOAD shim that records, in order, every file-system operation a process makes
 * under one directory, with the data it writes, for the power-loss replay of
 * tests/it/ledger_power_loss.rs (which builds it with the system's C compiler and reads the trace).
 *
 * Environment:
 *   RECORD_IO_DIR    absolute path; only operations on files under it are recorded
 *   RECORD_IO_TRACE  the trace file, appended to (several runs of a process share one trace)
 *   RECORD_IO_EXIT_AT  optional N: exit with status 137 when about to make the N-th recorded
 *                    fsync/fdatasync, a crash between writes and their sync that leaves the trace whole
 *
 * Every record starts with a kind byte and a sequence number (u64), little-endian, then:
 *   OPEN     flags (i32), inode (u64), path          - a successful open of a path under the dir
 *   WRITE    inode (u64), offset (u64), data         - write, pwrite, writev, pwritev (after success)
 *   TRUNCATE inode (u64), length (u64)               - ftruncate, truncate
 *   SYNC     how (u8), inode (u64), began (u64), result (i32), path
 *                                                    - fsync, fdatasync, sync_file_range, recorded
 *                                                      when the call returns; `began` is the sequence
 *                                                      number taken when it was called, so only writes
 *                                                      recorded before it count as covered
 *   RENAME   from, to;  UNLINK path;  MKDIR path;  RMDIR path
 *   OUT      data                                    - writes to stdout: the child's acknowledgements
 *   UNKNOWN  name                                    - an operation the replay's model does not cover
 *                                                      (a shared writable mapping, fallocate, ...)
 * Strings and data are a u32 length and the bytes. One mutex orders everything: an operation and
 * its record are one step, so the trace's order is the order the kernel saw.
 *
 * Rust's std calls libc's wrappers (open64, pwrite64, ftruncate64, ...), so interposing them here
 * sees every call; glibc's internal calls (opendir's openat) do not come through here, and need not:
 * they only read. Both the plain and the 64-bit names are covered. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <unistd.h>

enum kind { K_OPEN = 1, K_WRITE, K_TRUNCATE, K_SYNC, K_RENAME, K_UNLINK, K_MKDIR, K_RMDIR, K_OUT, K_UNKNOWN };
enum how { H_FSYNC = 0, H_FDATASYNC = 1, H_SYNC_FILE_RANGE = 2 };

static pthread_mutex_t lock = PTHREAD_RECURSIVE_MUTEX_INITIALIZER_NP;
static int trace_fd = -1;
static char dir[PATH_MAX];
static size_t dir_len;
static uint64_t seq;
/* RECORD_IO_EXIT_AT=N: the process exits (status 137, as if killed) instead of making its N-th
 * recorded fsync/fdatasync, so a run can die between its writes and their sync. */
static uint64_t syncs, exit_at;

#define REAL(name) static __typeof__(name) *real_##name; if (!real_##name) real_##name = dlsym(RTLD_NEXT, #name)

static ssize_t raw_write(int fd, const void *buf, size_t len) {
    REAL(write);
    return real_write(fd, buf, len);
}

static void init(void) {
    if (trace_fd >= 0 || trace_fd == -2) return;
    const char *d = getenv("RECORD_IO_DIR"), *t = getenv("RECORD_IO_TRACE");
    if (!d || !t || strlen(d) >= sizeof dir) { trace_fd = -2; return; }
    const char *e = getenv("RECORD_IO_EXIT_AT");
    exit_at = e ? strtoull(e, NULL, 10) : 0;
    strcpy(dir, d);
    dir_len = strlen(dir);
    while (dir_len > 1 && dir[dir_len - 1] == '/') dir[--dir_len] = 0;
    REAL(open);
    trace_fd = real_open(t, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    if (trace_fd < 0) { perror("record_io: trace"); abort(); }
    /* Continue a trace an earlier run left: its sequence numbers go on from its size, which only
     * grows, so they stay increasing across runs. */
    struct stat st;
    if (fstat(trace_fd, &st) == 0) seq = (uint64_t)st.st_size;
}

/* A record is built in a buffer and written whole; the trace is on another file system's path
 * outside the recorded directory, so writing it is never itself recorded. */
struct buf { char *p; size_t len, cap; };

static void put(struct buf *b, const void *data, size_t len) {
    if (b->len + len > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + len) cap *= 2;
        b->p = realloc(b->p, cap);
        if (!b->p) abort();
        b->cap = cap;
    }
    memcpy(b->p + b->len, data, len);
    b->len += len;
}
static void put_u8(struct buf *b, uint8_t v) { put(b, &v, 1); }
static void put_u32(struct buf *b, uint32_t v) { put(b, &v, 4); }
static void put_i32(struct buf *b, int32_t v) { put(b, &v, 4); }
static void put_u64(struct buf *b, uint64_t v) { put(b, &v, 8); }
static void put_str(struct buf *b, const char *s) { put_u32(b, (uint32_t)strlen(s)); put(b, s, strlen(s)); }

static struct buf begin(enum kind k) {
    struct buf b = {0};
    put_u8(&b, (uint8_t)k);
    put_u64(&b, seq++);
    return b;
}

static void emit(struct buf *b) {
    size_t done = 0;
    while (done < b->len) {
        ssize_t n = raw_write(trace_fd, b->p + done, b->len - done);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) { perror("record_io: write trace"); abort(); }
        done += (size_t)n;
    }
    free(b->p);
}

/* The absolute form of `path` (relative to `dirfd`), in `out`; 0 when it is not under the dir. */
static int under_dir_at(int dirfd, const char *path, char *out) {
    if (trace_fd < 0 || !path) return 0;
    if (path[0] == '/') {
        if (strlen(path) >= PATH_MAX) return 0;
        strcpy(out, path);
    } else {
        char base[PATH_MAX];
        if (dirfd == AT_FDCWD) {
            if (!getcwd(base, sizeof base)) return 0;
        } else {
            char link[64];
            snprintf(link, sizeof link, "/proc/self/fd/%d", dirfd);
            ssize_t n = readlink(link, base, sizeof base - 1);
            if (n < 0) return 0;
            base[n] = 0;
        }
        if (snprintf(out, PATH_MAX, "%s/%s", base, path) >= PATH_MAX) return 0;
    }
    return strncmp(out, dir, dir_len) == 0 && (out[dir_len] == '/' || out[dir_len] == 0);
}

/* The path an open descriptor names, and its inode; 0 when it is not under the dir. */
static int fd_under_dir(int fd, char *path, uint64_t *ino) {
    if (trace_fd < 0 || fd < 0) return 0;
    char link[64];
    snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
    ssize_t n = readlink(link, path, PATH_MAX - 1);
    if (n < 0) return 0;
    path[n] = 0;
    if (!(strncmp(path, dir, dir_len) == 0 && (path[dir_len] == '/' || path[dir_len] == 0))) return 0;
    struct stat st;
    if (fstat(fd, &st) != 0) return 0;
    *ino = (uint64_t)st.st_ino;
    return 1;
}

static void record_open(int fd, const char *abs, int flags) {
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0) return;
    struct buf b = begin(K_OPEN);
    put_i32(&b, flags);
    put_u64(&b, (uint64_t)st.st_ino);
    put_str(&b, abs);
    emit(&b);
}

/* After a successful write of `n` bytes at `offset` (or at the position before it, when -1). */
static void record_write(int fd, const struct iovec *iov, int iovcnt, ssize_t n, off_t offset) {
    char path[PATH_MAX];
    uint64_t ino;
    if (n <= 0) return;
    if (fd == 1) {
        struct buf b = begin(K_OUT);
        put_u32(&b, (uint32_t)n);
        ssize_t left = n;
        for (int i = 0; i < iovcnt && left > 0; i++) {
            size_t take = iov[i].iov_len < (size_t)left ? iov[i].iov_len : (size_t)left;
            put(&b, iov[i].iov_base, take);
            left -= (ssize_t)take;
        }
        emit(&b);
        return;
    }
    if (!fd_under_dir(fd, path, &ino)) return;
    if (offset < 0) offset = lseek(fd, 0, SEEK_CUR) - n;
    struct buf b = begin(K_WRITE);
    put_u64(&b, ino);
    put_u64(&b, (uint64_t)offset);
    put_u32(&b, (uint32_t)n);
    ssize_t left = n;
    for (int i = 0; i < iovcnt && left > 0; i++) {
        size_t take = iov[i].iov_len < (size_t)left ? iov[i].iov_len : (size_t)left;
        put(&b, iov[i].iov_base, take);
        left -= (ssize_t)take;
    }
    emit(&b);
}

static void record_unknown(const char *what, int fd) {
    char path[PATH_MAX];
    uint64_t ino;
    if (!fd_under_dir(fd, path, &ino)) return;
    struct buf b = begin(K_UNKNOWN);
    put_str(&b, what);
    emit(&b);
}

static void record_path(enum kind k, const char *abs) {
    struct buf b = begin(k);
    put_str(&b, abs);
    emit(&b);
}

/* ---- open ---- */

#define OPEN_LIKE(name, call)                                                                      \
    int name(const char *path, int flags, ...) {                                                   \
        mode_t mode = 0;                                                                           \
        if ((flags & O_CREAT) || (flags & O_TMPFILE) == O_TMPFILE) { va_list ap; va_start(ap, flags); mode = va_arg(ap, mode_t); va_end(ap); } \
        REAL(name);                                                                                \
        pthread_mutex_lock(&lock);                                                                 \
        init();                                                                                    \
        int fd = call;                                                                             \
        int saved = errno;                                                                         \
        char abs[PATH_MAX];                                                                        \
        if (fd >= 0 && under_dir_at(AT_FDCWD, path, abs)) record_open(fd, abs, flags);             \
        pthread_mutex_unlock(&lock);                                                               \
        errno = saved;                                                                             \
        return fd;                                                                                 \
    }
OPEN_LIKE(open, real_open(path, flags, mode))
OPEN_LIKE(open64, real_open64(path, flags, mode))

#define OPENAT_LIKE(name)                                                                          \
    int name(int dirfd, const char *path, int flags, ...) {                                        \
        mode_t mode = 0;                                                                           \
        if ((flags & O_CREAT) || (flags & O_TMPFILE) == O_TMPFILE) { va_list ap; va_start(ap, flags); mode = va_arg(ap, mode_t); va_end(ap); } \
        REAL(name);                                                                                \
        pthread_mutex_lock(&lock);                                                                 \
        init();                                                                                    \
        int fd = real_##name(dirfd, path, flags, mode);                                            \
        int saved = errno;                                                                         \
        char abs[PATH_MAX];                                                                        \
        if (fd >= 0 && under_dir_at(dirfd, path, abs)) record_open(fd, abs, flags);                \
        pthread_mutex_unlock(&lock);                                                               \
        errno = saved;                                                                             \
        return fd;                                                                                 \
    }
OPENAT_LIKE(openat)
OPENAT_LIKE(openat64)

int creat(const char *path, mode_t mode) { return open(path, O_CREAT | O_WRONLY | O_TRUNC, mode); }
int creat64(const char *path, mode_t mode) { return open64(path, O_CREAT | O_WRONLY | O_TRUNC, mode); }

/* ---- writes ---- */

ssize_t write(int fd, const void *data, size_t len) {
    REAL(write);
    pthread_mutex_lock(&lock);
    init();
    ssize_t n = real_write(fd, data, len);
    int saved = errno;
    struct iovec iov = {(void *)data, len};
    record_write(fd, &iov, 1, n, -1);
    pthread_mutex_unlock(&lock);
    errno = saved;
    return n;
}

#define PWRITE_LIKE(name, off_type)                                                                \
    ssize_t name(int fd, const void *data, size_t len, off_type offset) {                          \
        REAL(name);                                                                                \
        pthread_mutex_lock(&lock);                                                                 \
        init();                                                                                    \
        ssize_t n = real_##name(fd, data, len, offset);                                            \
        int saved = errno;                                                                         \
        struct iovec iov = {(void *)data, len};                                                    \
        record_write(fd, &iov, 1, n, (off_t)offset);                                               \
        pthread_mutex_unlock(&lock);                                                               \
        errno = saved;                                                                             \
        return n;                                                                                  \
    }
PWRITE_LIKE(pwrite, off_t)
PWRITE_LIKE(pwrite64, off64_t)

ssize_t writev(int fd, const struct iovec *iov, int iovcnt) {
    REAL(writev);
    pthread_mutex_lock(&lock);
    init();
    ssize_t n = real_writev(fd, iov, iovcnt);
    int saved = errno;
    record_write(fd, iov, iovcnt, n, -1);
    pthread_mutex_unlock(&lock);
    errno = saved;
    return n;
}

#define PWRITEV_LIKE(name, off_type)                                                               \
    ssize_t name(int fd, const struct iovec *iov, int iovcnt, off_type offset) {                   \
        REAL(name);                                                                                \
        pthread_mutex_lock(&lock);                                                                 \
        init();                                                                                    \
        ssize_t n = real_##name(fd, iov, iovcnt, offset);                                          \
        int saved = errno;                                                                         \
        record_write(fd, iov, iovcnt, n, (off_t)offset);                                           \
        pthread_mutex_unlock(&lock);                                                               \
        errno = saved;                                                                             \
        return n;                                                                                  \
    }
PWRITEV_LIKE(pwritev, off_t)
PWRITEV_LIKE(pwritev64, off64_t)

ssize_t pwritev2(int fd, const struct iovec *iov, int iovcnt, off_t offset, int flags) {
    REAL(pwritev2);
    pthread_mutex_lock(&lock);
    init();
    ssize_t n = real_pwritev2(fd, iov, iovcnt, offset, flags);
    int saved = errno;
    record_write(fd, iov, iovcnt, n, offset);
    pthread_mutex_unlock(&lock);
    errno = saved;
    return n;
}

#define TRUNCATE_LIKE(name, off_type)                                                              \
    int name(int fd, off_type length) {                                                            \
        REAL(name);                                                                                \
        pthread_mutex_lock(&lock);                                                                 \
        init();                                                                                    \
        int r = real_##name(fd, length);                                                           \
        int saved = errno;                                                                         \
        char path[PATH_MAX];                                                                       \
        uint64_t ino;                                                                              \
        if (r == 0 && fd_under_dir(fd, path, &ino)) {                                              \
            struct buf b = begin(K_TRUNCATE);                                                      \
            put_u64(&b, ino);                                                                      \
            put_u64(&b, (uint64_t)length);                                                         \
            emit(&b);                                                                              \
        }                                                                                          \
        pthread_mutex_unlock(&lock);                                                               \
        errno = saved;                                                                             \
        return r;                                                                                  \
    }
TRUNCATE_LIKE(ftruncate, off_t)
TRUNCATE_LIKE(ftruncate64, off64_t)

/* Truncation by path: not used by sled or the ledger; recorded as unknown if it ever is. */
#define PATH_TRUNCATE_LIKE(name, off_type)                                                         \
    int name(const char *path, off_type length) {                                                  \
        REAL(name);                                                                                \
        pthread_mutex_lock(&lock);                                                                 \
        init();                                                                                    \
        int r = real_##name(path, length);                                                         \
        int saved = errno;                                                                         \
        char abs[PATH_MAX];                                                                        \
        if (r == 0 && under_dir_at(AT_FDCWD, path, abs)) {                                         \
            struct buf b = begin(K_UNKNOWN);                                                       \
            put_str(&b, #name);                                                                    \
            emit(&b);                                                                              \
        }                                                                                          \
        pthread_mutex_unlock(&lock);                                                               \
        errno = saved;                                                                             \
        return r;                                                                                  \
    }
PATH_TRUNCATE_LIKE(truncate, off_t)
PATH_TRUNCATE_LIKE(truncate64, off64_t)

/* ---- syncs ---- */

static int sync_like(int fd, enum how how, int (*call)(int, off64_t, off64_t, unsigned), off64_t a, off64_t b_,
                     unsigned flags) {
    char path[PATH_MAX];
    uint64_t ino = 0;
    pthread_mutex_lock(&lock);
    init();
    int traced = fd_under_dir(fd, path, &ino);
    if (traced && how != H_SYNC_FILE_RANGE && ++syncs == exit_at) {
        /* The crash of a process that wrote but never synced: it dies as the sync is called, with
         * every record complete (the lock is held, so no other thread is inside one). */
        _exit(137);
    }
    /* Only a recorded sync takes a number, so numbers never outrun the trace's size (see init). */
    uint64_t began = traced ? seq++ : 0;
    pthread_mutex_unlock(&lock);
    /* The call itself runs outside the lock: other threads' writes go on meanwhile, and only those
     * recorded before `began` count as covered by it. */
    int r = call(fd, a, b_, flags);
    int saved = errno;
    if (traced) {
        pthread_mutex_lock(&lock);
        struct buf b = begin(K_SYNC);
        put_u8(&b, (uint8_t)how);
        put_u64(&b, ino);
        put_u64(&b, began);
        put_i32(&b, r);
        put_str(&b, path);
        emit(&b);
        pthread_mutex_unlock(&lock);
    }
    errno = saved;
    return r;
}

static int call_fsync(int fd, off64_t a, off64_t b, unsigned f) {
    (void)a; (void)b; (void)f;
    REAL(fsync);
    return real_fsync(fd);
}
static int call_fdatasync(int fd, off64_t a, off64_t b, unsigned f) {
    (void)a; (void)b; (void)f;
    REAL(fdatasync);
    return real_fdatasync(fd);
}
static int call_sync_file_range(int fd, off64_t a, off64_t b, unsigned f) {
    REAL(sync_file_range);
    return real_sync_file_range(fd, a, b, f);
}

int fsync(int fd) { return sync_like(fd, H_FSYNC, call_fsync, 0, 0, 0); }
int fdatasync(int fd) { return sync_like(fd, H_FDATASYNC, call_fdatasync, 0, 0, 0); }
int sync_file_range(int fd, off64_t offset, off64_t nbytes, unsigned int flags) {
    return sync_like(fd, H_SYNC_FILE_RANGE, call_sync_file_range, offset, nbytes, flags);
}

/* ---- names ---- */

#define PATH_OP(name, kind, ...)                                                                   \
    {                                                                                              \
        REAL(name);                                                                                \
        pthread_mutex_lock(&lock);                                                                 \
        init();                                                                                    \
        int r = real_##name(__VA_ARGS__);                                                          \
        int saved = errno;                                                                         \
        char abs[PATH_MAX];                                                                        \
        if (r == 0 && under_dir_at(DIRFD, path, abs)) record_path(kind, abs);                      \
        pthread_mutex_unlock(&lock);                                                               \
        errno = saved;                                                                             \
        return r;                                                                                  \
    }
#define DIRFD AT_FDCWD
int unlink(const char *path) PATH_OP(unlink, K_UNLINK, path)
int rmdir(const char *path) PATH_OP(rmdir, K_RMDIR, path)
int mkdir(const char *path, mode_t mode) PATH_OP(mkdir, K_MKDIR, path, mode)
#undef DIRFD
#define DIRFD dirfd
int mkdirat(int dirfd, const char *path, mode_t mode) PATH_OP(mkdirat, K_MKDIR, dirfd, path, mode)
int unlinkat(int dirfd, const char *path, int flags)
    PATH_OP(unlinkat, (flags & AT_REMOVEDIR) ? K_RMDIR : K_UNLINK, dirfd, path, flags)
#undef DIRFD

static int rename_like(int olddirfd, const char *from, int newdirfd, const char *to, unsigned flags) {
    REAL(renameat2);
    pthread_mutex_lock(&lock);
    init();
    int r = real_renameat2(olddirfd, from, newdirfd, to, flags);
    int saved = errno;
    char a[PATH_MAX], b_[PATH_MAX];
    int in_from = under_dir_at(olddirfd, from, a), in_to = under_dir_at(newdirfd, to, b_);
    if (r == 0 && (in_from || in_to)) {
        struct buf b = begin(in_from && in_to && flags == 0 ? K_RENAME : K_UNKNOWN);
        if (in_from && in_to && flags == 0) {
            put_str(&b, a);
            put_str(&b, b_);
        } else {
            put_str(&b, "rename across the recorded directory's edge, or with flags");
        }
        emit(&b);
    }
    pthread_mutex_unlock(&lock);
    errno = saved;
    return r;
}
int rename(const char *from, const char *to) { return rename_like(AT_FDCWD, from, AT_FDCWD, to, 0); }
int renameat(int od, const char *from, int nd, const char *to) { return rename_like(od, from, nd, to, 0); }
int renameat2(int od, const char *from, int nd, const char *to, unsigned flags) {
    return rename_like(od, from, nd, to, flags);
}

/* ---- what the model does not cover: recorded so the replay refuses the trace ---- */

/* A shared writable mapping of a file writes it behind the model's back: note it. */
static void note_mapping(int prot, int flags, int fd) {
    if (fd >= 0 && (prot & PROT_WRITE) && (flags & MAP_SHARED)) {
        pthread_mutex_lock(&lock);
        init();
        record_unknown("a shared writable mmap", fd);
        pthread_mutex_unlock(&lock);
    }
}

void *mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off) {
    REAL(mmap);
    note_mapping(prot, flags, fd);
    return real_mmap(addr, len, prot, flags, fd, off);
}
void *mmap64(void *addr, size_t len, int prot, int flags, int fd, off64_t off) {
    REAL(mmap64);
    note_mapping(prot, flags, fd);
    return real_mmap64(addr, len, prot, flags, fd, off);
}

#define FD_UNKNOWN(ret, name, params, ...)                                                         \
    ret name params {                                                                              \
        REAL(name);                                                                                \
        pthread_mutex_lock(&lock);                                                                 \
        init();                                                                                    \
        ret r = real_##name(__VA_ARGS__);                                                          \
        int saved = errno;                                                                         \
        record_unknown(#name, fd);                                                                 \
        pthread_mutex_unlock(&lock);                                                               \
        errno = saved;                                                                             \
        return r;                                                                                  \
    }
FD_UNKNOWN(int, fallocate, (int fd, int mode, off_t off, off_t len), fd, mode, off, len)
FD_UNKNOWN(int, fallocate64, (int fd, int mode, off64_t off, off64_t len), fd, mode, off, len)
FD_UNKNOWN(int, posix_fallocate, (int fd, off_t off, off_t len), fd, off, len)
FD_UNKNOWN(int, posix_fallocate64, (int fd, off64_t off, off64_t len), fd, off, len)
FD_UNKNOWN(int, syncfs, (int fd), fd)
