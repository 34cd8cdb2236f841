// cairn-statbatch: the stat calls of `cairn data status` for one folder, off the main thread.
//
// statFolder(path, dev, ino, names, spans) opens `path` with O_DIRECTORY|O_NOFOLLOW, checks with
// fstat that it is the folder the caller lstat'ed (same device and inode: no link followed,
// nothing swapped in between), then either lists it (names === null: readdir) or takes the
// names the caller gives (the cache record's: `names` is a Buffer, `spans` an Int32Array of
// four int32 per entry, of which [1] is where the name starts in `names` and [2] its length),
// and fstatat(dirfd, name, AT_SYMLINK_NOFOLLOW)s each; a symlink's target is read with
// readlinkat through the same fd. It runs on libuv's thread pool and resolves to
//   { status, err, n, buf }
// status 0: done; 1: open failed (err: errno); 2: not the folder expected; 3: readdir failed.
// buf (an ArrayBuffer) holds, for n entries:
//   f64[4n]  ino, size, mtimeMs, ctimeMs (as Node computes them: sec * 1e3 + nsec / 1e6)
//   i32[3n]  st_mode, errno of the fstatat (0: ok), flags (1: name not plain UTF-8, 2: target)
//   bytes    listing: each name, NUL-terminated; after it (either mode) a symlink's target,
//            NUL-terminated, when flag 2 is set
// No object per entry: the caller reads the typed arrays.
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <node_api.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define FLAG_BAD_NAME 1
#define FLAG_TARGET 2
#define NAME_MAX_BYTES 4096

typedef struct {
  double *stats;
  int32_t *info;
  uint32_t n, cap;
  char *strings;
  size_t len, strcap;
  int oom;
} Out;

typedef struct {
  napi_async_work work;
  napi_deferred deferred;
  napi_ref names_ref;
  char *path;
  double dev, ino;
  const unsigned char *names;
  int32_t *spans; /* nameAt, nameLen pairs (copied) */
  uint32_t count;
  int listed;
  int status, err;
  Out out;
} Task;

/* Strict UTF-8 without NUL or '/': what Node's decoder turns into the same bytes again. */
static int plain_name(const unsigned char *s, size_t n) {
  if (n == 0 || n >= NAME_MAX_BYTES) return 0;
  size_t i = 0;
  while (i < n) {
    unsigned c = s[i];
    if (c < 0x80) {
      if (c == 0 || c == '/') return 0;
      i++;
      continue;
    }
    unsigned need, lo = 0x80, hi = 0xBF;
    if (c >= 0xC2 && c <= 0xDF) need = 1;
    else if (c >= 0xE0 && c <= 0xEF) {
      need = 2;
      if (c == 0xE0) lo = 0xA0;
      if (c == 0xED) hi = 0x9F;
    } else if (c >= 0xF0 && c <= 0xF4) {
      need = 3;
      if (c == 0xF0) lo = 0x90;
      if (c == 0xF4) hi = 0x8F;
    } else
      return 0;
    if (i + need >= n) return 0;
    if (s[i + 1] < lo || s[i + 1] > hi) return 0;
    for (unsigned k = 2; k <= need; k++)
      if ((s[i + k] & 0xC0) != 0x80) return 0;
    i += need + 1;
  }
  return 1;
}

static int grow(Out *o) {
  if (o->n < o->cap) return 1;
  uint32_t cap = o->cap ? o->cap * 2 : 256;
  double *s = realloc(o->stats, sizeof(double) * 4 * cap);
  if (!s) return 0;
  o->stats = s;
  int32_t *f = realloc(o->info, sizeof(int32_t) * 3 * cap);
  if (!f) return 0;
  o->info = f;
  o->cap = cap;
  return 1;
}

static int put(Out *o, const char *s, size_t n) {
  if (o->len + n + 1 > o->strcap) {
    size_t cap = o->strcap ? o->strcap * 2 : 4096;
    while (cap < o->len + n + 1) cap *= 2;
    char *p = realloc(o->strings, cap);
    if (!p) return 0;
    o->strings = p;
    o->strcap = cap;
  }
  memcpy(o->strings + o->len, s, n);
  o->strings[o->len + n] = 0;
  o->len += n + 1;
  return 1;
}

/* One entry: its stat fields (and a symlink's target) appended to the output. */
static void stat_one(Out *o, int dfd, const char *name, int bad) {
  if (!grow(o)) {
    o->oom = 1;
    return;
  }
  uint32_t i = o->n++;
  double *s = o->stats + 4 * i;
  int32_t *f = o->info + 3 * i;
  struct stat st;
  memset(s, 0, sizeof(double) * 4);
  f[0] = 0;
  f[2] = bad ? FLAG_BAD_NAME : 0;
  if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) != 0) {
    f[1] = errno;
    return;
  }
  f[1] = 0;
  f[0] = (int32_t)st.st_mode;
  s[0] = (double)st.st_ino;
  s[1] = (double)st.st_size;
  s[2] = (double)st.st_mtim.tv_sec * 1e3 + (double)st.st_mtim.tv_nsec / 1e6;
  s[3] = (double)st.st_ctim.tv_sec * 1e3 + (double)st.st_ctim.tv_nsec / 1e6;
  if (S_ISLNK(st.st_mode)) {
    char target[NAME_MAX_BYTES + 1];
    ssize_t len = readlinkat(dfd, name, target, NAME_MAX_BYTES);
    if (len >= 0 && len < NAME_MAX_BYTES && memchr(target, 0, (size_t)len) == NULL) {
      if (!put(o, target, (size_t)len)) o->oom = 1;
      else f[2] |= FLAG_TARGET;
    }
  }
}

static void list_folder(Task *t, int dfd) {
  DIR *d = fdopendir(dfd);
  if (!d) {
    t->status = 3;
    t->err = errno;
    close(dfd);
    return;
  }
  for (;;) {
    errno = 0;
    struct dirent *e = readdir(d);
    if (!e) {
      if (errno) {
        t->status = 3;
        t->err = errno;
      }
      break;
    }
    const char *nm = e->d_name;
    if (nm[0] == '.' && (nm[1] == 0 || (nm[1] == '.' && nm[2] == 0))) continue;
    size_t len = strlen(nm);
    if (!put(&t->out, nm, len)) {
      t->out.oom = 1;
      break;
    }
    stat_one(&t->out, dirfd(d), nm, !plain_name((const unsigned char *)nm, len));
    if (t->out.oom) break;
  }
  closedir(d);
}

static void given_names(Task *t, int dfd) {
  char name[NAME_MAX_BYTES + 1];
  for (uint32_t i = 0; i < t->count && !t->out.oom; i++) {
    const unsigned char *s = t->names + t->spans[2 * i];
    size_t len = (size_t)t->spans[2 * i + 1];
    int bad = !plain_name(s, len);
    if (len > NAME_MAX_BYTES) len = NAME_MAX_BYTES;
    memcpy(name, s, len);
    name[len] = 0;
    stat_one(&t->out, dfd, name, bad);
  }
  close(dfd);
}

static void execute(napi_env env, void *data) {
  (void)env;
  Task *t = data;
  int dfd = open(t->path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (dfd < 0) {
    t->status = 1;
    t->err = errno;
    return;
  }
  struct stat ds;
  if (fstat(dfd, &ds) != 0 || (double)ds.st_dev != t->dev || (double)ds.st_ino != t->ino) {
    t->status = 2;
    close(dfd);
    return;
  }
  if (t->listed) list_folder(t, dfd);
  else given_names(t, dfd);
}

static void set_num(napi_env env, napi_value obj, const char *key, double v) {
  napi_value x;
  napi_create_double(env, v, &x);
  napi_set_named_property(env, obj, key, x);
}

static void free_task(napi_env env, Task *t) {
  if (t->names_ref) napi_delete_reference(env, t->names_ref);
  napi_delete_async_work(env, t->work);
  free(t->path);
  free(t->spans);
  free(t->out.stats);
  free(t->out.info);
  free(t->out.strings);
  free(t);
}

static void complete(napi_env env, napi_status status, void *data) {
  Task *t = data;
  napi_value result, ab, err;
  if (status != napi_ok || t->out.oom) {
    napi_value msg;
    napi_create_string_utf8(env, t->out.oom ? "statbatch: out of memory" : "statbatch: cancelled", NAPI_AUTO_LENGTH,
                            &msg);
    napi_create_error(env, NULL, msg, &err);
    napi_reject_deferred(env, t->deferred, err);
    free_task(env, t);
    return;
  }
  uint32_t n = t->status == 0 ? t->out.n : 0;
  size_t bytes = 32 * (size_t)n + 12 * (size_t)n + (t->status == 0 ? t->out.len : 0);
  void *p = NULL;
  napi_create_object(env, &result);
  if (napi_create_arraybuffer(env, bytes, &p, &ab) != napi_ok) {
    napi_get_undefined(env, &ab);
  } else if (n > 0 || bytes > 0) {
    memcpy(p, t->out.stats, 32 * (size_t)n);
    memcpy((char *)p + 32 * (size_t)n, t->out.info, 12 * (size_t)n);
    if (t->out.len) memcpy((char *)p + 44 * (size_t)n, t->out.strings, t->out.len);
  }
  set_num(env, result, "status", t->status);
  set_num(env, result, "err", t->err);
  set_num(env, result, "n", n);
  napi_set_named_property(env, result, "buf", ab);
  napi_resolve_deferred(env, t->deferred, result);
  free_task(env, t);
}

static napi_value fail(napi_env env, const char *why) {
  napi_throw_type_error(env, "ERR_INVALID_ARG_VALUE", why);
  return NULL;
}

/* Reads the names and spans the caller gave (settled mode); 0 when they do not fit. */
static int take_names(napi_env env, Task *t, napi_value names, napi_value spans) {
  void *data;
  size_t len;
  if (napi_get_buffer_info(env, names, &data, &len) != napi_ok) return 0;
  napi_typedarray_type type;
  size_t count;
  void *sp;
  if (napi_get_typedarray_info(env, spans, &type, &count, &sp, NULL, NULL) != napi_ok || type != napi_int32_array ||
      count % 4 != 0)
    return 0;
  t->count = (uint32_t)(count / 4);
  t->spans = malloc(sizeof(int32_t) * 2 * (t->count ? t->count : 1));
  if (!t->spans) return 0;
  const int32_t *s = sp;
  for (uint32_t i = 0; i < t->count; i++) {
    int32_t at = s[4 * i + 1], n = s[4 * i + 2];
    if (at < 0 || n < 0 || (size_t)at + (size_t)n > len) return 0;
    t->spans[2 * i] = at;
    t->spans[2 * i + 1] = n;
  }
  t->names = data;
  return napi_create_reference(env, names, 1, &t->names_ref) == napi_ok;
}

static napi_value stat_folder(napi_env env, napi_callback_info info) {
  size_t argc = 5;
  napi_value argv[5];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc < 5) return fail(env, "statFolder(path, dev, ino, names, spans)");
  Task *t = calloc(1, sizeof(Task));
  if (!t) return fail(env, "out of memory");
  size_t plen;
  napi_valuetype nt;
  napi_typeof(env, argv[3], &nt);
  if (napi_get_value_string_utf8(env, argv[0], NULL, 0, &plen) != napi_ok || !(t->path = malloc(plen + 1)) ||
      napi_get_value_string_utf8(env, argv[0], t->path, plen + 1, &plen) != napi_ok || strlen(t->path) != plen ||
      napi_get_value_double(env, argv[1], &t->dev) != napi_ok ||
      napi_get_value_double(env, argv[2], &t->ino) != napi_ok) {
    free(t->path);
    free(t);
    return fail(env, "statFolder: path must be a string without NUL, dev and ino numbers");
  }
  t->listed = nt == napi_null;
  if (!t->listed && !take_names(env, t, argv[3], argv[4])) {
    if (t->names_ref) napi_delete_reference(env, t->names_ref);
    free(t->path);
    free(t->spans);
    free(t);
    return fail(env, "statFolder: names must be a Buffer and spans an Int32Array of in-bounds [_, at, len, _]");
  }
  napi_value promise, name;
  napi_create_promise(env, &t->deferred, &promise);
  napi_create_string_utf8(env, "cairn-statbatch", NAPI_AUTO_LENGTH, &name);
  napi_create_async_work(env, NULL, name, execute, complete, t, &t->work);
  napi_queue_async_work(env, t->work);
  return promise;
}

NAPI_MODULE_INIT() {
  napi_value fn;
  napi_create_function(env, "statFolder", NAPI_AUTO_LENGTH, stat_folder, NULL, &fn);
  napi_set_named_property(env, exports, "statFolder", fn);
  return exports;
}
