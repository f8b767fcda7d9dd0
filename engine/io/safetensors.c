/*
 * safetensors.c - the safetensors format: an 8-byte little-endian header
 * length N, N bytes of JSON header, then the tensors' bytes. Every file is
 * untrusted: lengths, offsets, shapes and dtypes are checked before use, and
 * the data section must be covered exactly, without holes or overlaps, as the
 * format requires.
 */
#include "engine/io/safetensors.h"
#include "data/base/mem.h"
#include "data/base/fileio.h"
#include "data/base/util.h"

#include <cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <utf8proc.h>

#define ST_MAX_HEADER (100u << 20) /* the reference reader's limit */
#define ST_MAX_FILE ((size_t)64 << 30)

static const struct { const char *name; int size; } dtypes[POFA_DTYPE_COUNT] = {
	[POFA_F32] = { "F32", 4 }, [POFA_F16] = { "F16", 2 }, [POFA_BF16] = { "BF16", 2 },
	[POFA_F64] = { "F64", 8 }, [POFA_I64] = { "I64", 8 }, [POFA_I32] = { "I32", 4 },
	[POFA_I8] = { "I8", 1 },   [POFA_U8] = { "U8", 1 },   [POFA_BOOL] = { "BOOL", 1 },
	[POFA_U16] = { "U16", 2 }, [POFA_I16] = { "I16", 2 },
};
_Static_assert(POFA_ARRAY_LEN(dtypes) == POFA_DTYPE_COUNT, "dtype table");

const char *pofa_dtype_name(enum pofa_dtype d) { return d >= 0 && d < POFA_DTYPE_COUNT ? dtypes[d].name : "?"; }

static int parse_dtype(const char *s)
{
	for (int i = 0; i < POFA_DTYPE_COUNT; i++)
		if (strcmp(s, dtypes[i].name) == 0)
			return i;
	return -1;
}

/* a JSON number that is a non-negative integer below 2^53 */
static int json_uint(const cJSON *j, uint64_t *out)
{
	if (!cJSON_IsNumber(j))
		return 0;
	double d = j->valuedouble;
	if (!(d >= 0.0) || d > 9007199254740992.0 || d != (double)(uint64_t)d)
		return 0;
	*out = (uint64_t)d;
	return 1;
}

static int by_begin(const void *a, const void *b)
{
	const pofa_st_tensor *x = a, *y = b;
	if (x->begin != y->begin)
		return x->begin < y->begin ? -1 : 1;
	return x->end < y->end ? -1 : (x->end > y->end);
}

void pofa_st_close(pofa_st_file *f)
{
	if (!f)
		return;
	if (f->buf && f->mapped)
		munmap(f->buf, f->size);
	else
		free(f->buf);
	free(f->tensors);
	free(f->by_name);
	free(f->meta);
	memset(f, 0, sizeof *f);
}

static int utf8_ok(const char *s)
{
	const utf8proc_uint8_t *p = (const utf8proc_uint8_t *)s;
	utf8proc_ssize_t n = (utf8proc_ssize_t)strlen(s);
	while (n > 0) {
		utf8proc_int32_t cp;
		utf8proc_ssize_t k = utf8proc_iterate(p, n, &cp);
		if (k <= 0)
			return 0;
		p += k;
		n -= k;
	}
	return 1;
}

/* qsort has no argument for the file whose names it compares; files are
 * opened one at a time per thread of the engine, so a thread-local will do */
static _Thread_local const pofa_st_file *sort_file;

static int by_name_index(const void *a, const void *b)
{
	return strcmp(sort_file->tensors[*(const int *)a].name, sort_file->tensors[*(const int *)b].name);
}

/* __metadata__: string keys and values */
static int parse_meta(pofa_st_file *f, const cJSON *it, int cap, pofa_err *err)
{
	if (!cJSON_IsObject(it))
		return pofa_error(err, POFA_ERR_INPUT, "%s: __metadata__ is not an object", f->path);
	for (cJSON *kv = it->child; kv; kv = kv->next) {
		if (!cJSON_IsString(kv))
			return pofa_error(err, POFA_ERR_INPUT, "%s: __metadata__ value of \"%s\" is not a string", f->path,
			                  kv->string);
		if (f->nmeta < cap) {
			snprintf(f->meta[f->nmeta][0], 128, "%s", kv->string);
			snprintf(f->meta[f->nmeta][1], 128, "%s", kv->valuestring);
			f->nmeta++;
		}
	}
	return POFA_OK;
}

/* a tensor's shape, each entry and the element count bounded; its count */
static int parse_shape(pofa_st_file *f, pofa_st_tensor *t, const cJSON *sh, uint64_t *numel, pofa_err *err)
{
	int nd = cJSON_GetArraySize(sh);
	if (nd > 8)
		return pofa_error(err, POFA_ERR_INPUT, "%s: tensor %s: %d dimensions (at most 8)", f->path, t->name, nd);
	t->ndim = nd;
	*numel = 1;
	int d = 0;
	for (const cJSON *e = sh->child; e; e = e->next, d++) {
		uint64_t v;
		if (!json_uint(e, &v) || v > (1ull << 40))
			return pofa_error(err, POFA_ERR_INPUT, "%s: tensor %s: bad shape entry", f->path, t->name);
		t->shape[d] = (int64_t)v;
		if (v != 0 && *numel > (1ull << 50) / v)
			return pofa_error(err, POFA_ERR_INPUT, "%s: tensor %s: shape too large", f->path, t->name);
		*numel *= v;
	}
	return POFA_OK;
}

/* one tensor's entry: its name, dtype, shape and data offsets, checked
 * against the data section's length */
static int parse_tensor(pofa_st_file *f, const cJSON *it, uint64_t data_len, pofa_err *err)
{
	const char *path = f->path, *name = it->string ? it->string : "";
	if (strlen(name) >= sizeof f->tensors[0].name)
		return pofa_error(err, POFA_ERR_INPUT, "%s: tensor name too long", path);
	if (!utf8_ok(name))
		return pofa_error(err, POFA_ERR_INPUT, "%s: a tensor name that is not UTF-8", path);
	pofa_st_tensor *t = &f->tensors[f->ntensors];
	strcpy(t->name, name);
	const cJSON *dt = cJSON_GetObjectItemCaseSensitive(it, "dtype");
	const cJSON *sh = cJSON_GetObjectItemCaseSensitive(it, "shape");
	const cJSON *of = cJSON_GetObjectItemCaseSensitive(it, "data_offsets");
	if (!cJSON_IsObject(it) || !cJSON_IsString(dt) || !cJSON_IsArray(sh) || !cJSON_IsArray(of))
		return pofa_error(err, POFA_ERR_INPUT, "%s: tensor %s: needs \"dtype\", \"shape\" and \"data_offsets\"",
		                  path, name);
	int dtype = parse_dtype(dt->valuestring);
	if (dtype < 0)
		return pofa_error(err, POFA_ERR_INPUT, "%s: tensor %s: unknown dtype \"%s\"", path, name, dt->valuestring);
	t->dtype = (enum pofa_dtype)dtype;
	uint64_t numel = 0, b, e;
	if (parse_shape(f, t, sh, &numel, err))
		return err->status;
	if (cJSON_GetArraySize(of) != 2 || !json_uint(of->child, &b) || !json_uint(of->child->next, &e) || b > e)
		return pofa_error(err, POFA_ERR_INPUT, "%s: tensor %s: bad data_offsets", path, name);
	if (e > data_len)
		return pofa_error(err, POFA_ERR_INPUT, "%s: tensor %s: data_offsets [%llu, %llu] beyond the data (%llu "
		                  "bytes); the file is truncated or corrupt", path, name, (unsigned long long)b,
		                  (unsigned long long)e, (unsigned long long)data_len);
	if (e - b != numel * (uint64_t)dtypes[t->dtype].size)
		return pofa_error(err, POFA_ERR_INPUT, "%s: tensor %s: %llu bytes of data for a %s tensor of %llu elements",
		                  path, name, (unsigned long long)(e - b), dtypes[t->dtype].name, (unsigned long long)numel);
	t->begin = b;
	t->end = e;
	f->ntensors++;
	return POFA_OK;
}

/* the names, sorted: each once, and found by binary search */
static int index_names(pofa_st_file *f, pofa_err *err)
{
	f->by_name = malloc(((size_t)f->ntensors + 1) * sizeof *f->by_name);
	if (!f->by_name)
		return pofa_error(err, POFA_ERR_RUN, "%s: out of memory", f->path);
	for (int i = 0; i < f->ntensors; i++)
		f->by_name[i] = i;
	sort_file = f;
	qsort(f->by_name, (size_t)f->ntensors, sizeof *f->by_name, by_name_index);
	for (int i = 1; i < f->ntensors; i++)
		if (!strcmp(f->tensors[f->by_name[i]].name, f->tensors[f->by_name[i - 1]].name))
			return pofa_error(err, POFA_ERR_INPUT, "%s: tensor %s: appears twice", f->path,
			                  f->tensors[f->by_name[i]].name);
	return POFA_OK;
}

/* the data section must be covered exactly once, in order */
static int check_coverage(pofa_st_file *f, uint64_t data_len, pofa_err *err)
{
	const char *path = f->path;
	pofa_st_tensor *s = malloc(((size_t)f->ntensors + 1) * sizeof *s);
	if (!s)
		return pofa_error(err, POFA_ERR_RUN, "%s: out of memory", path);
	memcpy(s, f->tensors, (size_t)f->ntensors * sizeof *s);
	qsort(s, (size_t)f->ntensors, sizeof *s, by_begin);
	int rc = POFA_OK;
	for (int i = 1; i < f->ntensors && rc == POFA_OK; i++)
		if (s[i].begin < s[i - 1].end)
			rc = pofa_error(err, POFA_ERR_INPUT, "%s: tensor %s: data overlaps tensor %s", path, s[i].name,
			                s[i - 1].name);
	uint64_t at = 0;
	for (int i = 0; i < f->ntensors && rc == POFA_OK; i++) {
		if (s[i].begin > at)
			rc = pofa_error(err, POFA_ERR_INPUT, "%s: tensor %s: a gap of %llu bytes before its data", path,
			                s[i].name, (unsigned long long)(s[i].begin - at));
		at = s[i].end;
	}
	if (rc == POFA_OK && at != data_len)
		rc = pofa_error(err, POFA_ERR_INPUT, "%s: %llu bytes after the last tensor's data; the file is corrupt",
		                path, (unsigned long long)(data_len - at));
	free(s);
	return rc;
}

static int parse_header(pofa_st_file *f, const char *json, size_t n, pofa_err *err)
{
	const char *path = f->path;
	if (n == 0 || json[0] != '{')
		return pofa_error(err, POFA_ERR_INPUT, "%s: header is not a JSON object", path);
	const char *end = NULL;
	cJSON *root = cJSON_ParseWithLengthOpts(json, n, &end, 0);
	if (!root || !cJSON_IsObject(root)) {
		cJSON_Delete(root);
		return pofa_error(err, POFA_ERR_INPUT, "%s: malformed JSON header", path);
	}
	/* the format pads the header with spaces; anything else is junk */
	for (const char *c = end; c < json + n; c++)
		if (*c != ' ') {
			cJSON_Delete(root);
			return pofa_error(err, POFA_ERR_INPUT, "%s: junk after the JSON header (byte %ld of it)", path,
			                  (long)(c - json));
		}
	int count = cJSON_GetArraySize(root);
	f->tensors = calloc((size_t)count + 1, sizeof *f->tensors);
	f->meta = calloc((size_t)count + 1, sizeof *f->meta);
	if (!f->tensors || !f->meta) {
		cJSON_Delete(root);
		return pofa_error(err, POFA_ERR_RUN, "%s: out of memory", path);
	}
	uint64_t data_len = f->size - f->data_off;
	int rc = POFA_OK;
	for (cJSON *it = root->child; it && rc == POFA_OK; it = it->next)
		rc = strcmp(it->string ? it->string : "", "__metadata__") ? parse_tensor(f, it, data_len, err)
		                                                            : parse_meta(f, it, count, err);
	cJSON_Delete(root);
	if (!rc)
		rc = index_names(f, err);
	if (!rc)
		rc = check_coverage(f, data_len, err);
	return rc;
}

/* the file, mapped (read whole when it cannot be) */
static int map_file(pofa_st_file *f, const char *path, pofa_err *err)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return pofa_error(err, POFA_ERR_INPUT, "%s: cannot open: %s", path, strerror(errno));
	struct stat st;
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return pofa_error(err, POFA_ERR_INPUT, "%s: not a regular file", path);
	}
	if ((uint64_t)st.st_size > ST_MAX_FILE) {
		close(fd);
		return pofa_error(err, POFA_ERR_INPUT, "%s: file too large (%lld bytes)", path, (long long)st.st_size);
	}
	f->size = (size_t)st.st_size;
	void *p = f->size ? mmap(NULL, f->size, PROT_READ, MAP_PRIVATE, fd, 0) : MAP_FAILED;
	close(fd);
	if (p != MAP_FAILED) {
		f->buf = p;
		f->mapped = 1;
		return POFA_OK;
	}
	return pofa_read_file(path, &f->buf, &f->size, ST_MAX_FILE, err);
}

int pofa_st_open(pofa_st_file *f, const char *path, pofa_err *err)
{
	memset(f, 0, sizeof *f);
	snprintf(f->path, sizeof f->path, "%s", path);
	int rc = map_file(f, path, err);
	if (rc)
		return rc;
	size_t size = f->size;
	if (size < 8) {
		pofa_st_close(f);
		return pofa_error(err, POFA_ERR_INPUT,
		                  "%s: truncated: %zu bytes, shorter than the 8-byte header length", path, size);
	}
	uint64_t n = 0;
	for (int i = 7; i >= 0; i--)
		n = (n << 8) | f->buf[i];
	if (n > ST_MAX_HEADER || n > size - 8) {
		pofa_st_close(f);
		return pofa_error(err, POFA_ERR_INPUT,
		                  "%s: bad header length %llu (file has %zu bytes); the file is truncated "
		                  "or not safetensors",
		                  path, (unsigned long long)n, size);
	}
	f->data_off = 8 + (size_t)n;
	rc = parse_header(f, (const char *)f->buf + 8, (size_t)n, err);
	if (rc) {
		pofa_st_close(f);
		snprintf(f->path, sizeof f->path, "%s", path);
	}
	return rc;
}

static int by_name_key(const void *key, const void *b)
{
	return strcmp((const char *)key, sort_file->tensors[*(const int *)b].name);
}

const pofa_st_tensor *pofa_st_find(const pofa_st_file *f, const char *name)
{
	if (!f->by_name)
		return NULL;
	sort_file = f;
	const int *i = bsearch(name, f->by_name, (size_t)f->ntensors, sizeof *f->by_name, by_name_key);
	return i ? &f->tensors[*i] : NULL;
}

const char *pofa_st_meta(const pofa_st_file *f, const char *key)
{
	for (int i = 0; i < f->nmeta; i++)
		if (strcmp(f->meta[i][0], key) == 0)
			return f->meta[i][1];
	return NULL;
}

float pofa_half_to_float(uint16_t h)
{
	uint32_t s = (uint32_t)(h >> 15) << 31, e = (h >> 10) & 0x1f, m = h & 0x3ff, bits;
	if (e == 0) {
		if (m == 0) {
			bits = s;
		} else { /* subnormal: renormalise */
			e = 127 - 15 + 1;
			while (!(m & 0x400)) {
				m <<= 1;
				e--;
			}
			bits = s | (e << 23) | ((m & 0x3ff) << 13);
		}
	} else if (e == 31) {
		bits = s | 0x7f800000u | (m << 13);
	} else {
		bits = s | ((e + 127 - 15) << 23) | (m << 13);
	}
	float f;
	memcpy(&f, &bits, 4);
	return f;
}

/* round to nearest, ties to even; beyond float16's range: infinity */
uint16_t pofa_float_to_half(float f)
{
	uint32_t x;
	memcpy(&x, &f, 4);
	uint16_t s = (uint16_t)(x >> 16 & 0x8000);
	uint32_t a = x & 0x7fffffffu;
	if (a >= 0x7f800000u) /* inf, NaN */
		return (uint16_t)(s | 0x7c00 | (a > 0x7f800000u ? 0x200 : 0));
	if (a >= 0x477ff000u) /* rounds to 65520 or more */
		return (uint16_t)(s | 0x7c00);
	if (a < 0x38800000u) { /* below float16's smallest normal: a subnormal or 0 */
		if (a < 0x33000000u) /* under half the smallest subnormal */
			return s;
		uint32_t e = a >> 23, m = (a & 0x7fffff) | 0x800000, shift = 126 - e; /* 14..24 */
		uint32_t q = m >> shift, rem = m & ((1u << shift) - 1), half = 1u << (shift - 1);
		q += rem > half || (rem == half && (q & 1));
		return (uint16_t)(s | q);
	}
	uint32_t q = (a - 0x38000000u) >> 13, rem = a & 0x1fff;
	q += rem > 0x1000 || (rem == 0x1000 && (q & 1));
	return (uint16_t)(s | q);
}

int pofa_st_read_f32(const pofa_st_file *f, const pofa_st_tensor *t, float *out, pofa_err *err)
{
	const unsigned char *p = f->buf + f->data_off + t->begin;
	size_t n = (t->end - t->begin) / (size_t)dtypes[t->dtype].size;
	switch (t->dtype) {
	case POFA_F32:
		memcpy(out, p, n * 4);
		return POFA_OK;
	case POFA_F64:
		for (size_t i = 0; i < n; i++) {
			double d;
			memcpy(&d, p + 8 * i, 8);
			out[i] = (float)d;
		}
		return POFA_OK;
	case POFA_F16:
		for (size_t i = 0; i < n; i++)
			out[i] = pofa_half_to_float((uint16_t)(p[2 * i] | p[2 * i + 1] << 8));
		return POFA_OK;
	case POFA_BF16:
		for (size_t i = 0; i < n; i++) {
			uint32_t bits = (uint32_t)(p[2 * i] | p[2 * i + 1] << 8) << 16;
			memcpy(&out[i], &bits, 4);
		}
		return POFA_OK;
	default:
		return pofa_error(err, POFA_ERR_INPUT,
		                  "%s: tensor %s: dtype %s cannot be read as floating point; "
		                  "convert the model to F32, F16 or BF16",
		                  f->path, t->name, dtypes[t->dtype].name);
	}
}

/* ---- writer ------------------------------------------------------------ */

typedef struct { char *s; size_t n, cap; int oom; } pofa_sbuf;

static void sb_put(pofa_sbuf *b, const char *s, size_t n)
{
	if (b->oom)
		return;
	if (b->n + n + 1 > b->cap) {
		size_t cap = (b->cap ? b->cap * 2 : 4096) + n;
		if (pofa_resize(&b->s, cap, 1)) {
			b->oom = 1;
			return;
		}
		b->cap = cap;
	}
	memcpy(b->s + b->n, s, n);
	b->n += n;
	b->s[b->n] = 0;
}
static void sb_str(pofa_sbuf *b, const char *s) { sb_put(b, s, strlen(s)); }
static void sb_json(pofa_sbuf *b, const char *s)
{
	sb_put(b, "\"", 1);
	for (; *s; s++) {
		char e[8];
		if (*s == '"' || *s == '\\') {
			e[0] = '\\';
			e[1] = *s;
			sb_put(b, e, 2);
		} else if ((unsigned char)*s < 0x20) {
			snprintf(e, sizeof e, "\\u%04x", (unsigned char)*s);
			sb_str(b, e);
		} else {
			sb_put(b, s, 1);
		}
	}
	sb_put(b, "\"", 1);
}

/* the reference writer: larger alignment (dtype size) first, then by name */
static int by_name(const void *a, const void *b)
{
	const pofa_st_out *x = a, *y = b;
	int sx = dtypes[x->dtype].size, sy = dtypes[y->dtype].size;
	if (sx != sy)
		return sy - sx;
	return strcmp(x->name, y->name);
}

int pofa_st_write(const char *path, const pofa_st_out *t, int n,
                  const char *const (*meta)[2], int nmeta, pofa_err *err)
{
	for (int i = 0; i < n; i++)
		if ((unsigned)t[i].dtype >= POFA_DTYPE_COUNT)
			return pofa_error(err, POFA_ERR_RUN, "%s: tensor %s: bad dtype", path, t[i].name);
	pofa_st_out *s = malloc(((size_t)n + 1) * sizeof *s);
	if (!s)
		return pofa_error(err, POFA_ERR_RUN, "%s: out of memory", path);
	memcpy(s, t, (size_t)n * sizeof *s);
	qsort(s, (size_t)n, sizeof *s, by_name);
	pofa_sbuf h = { 0 };
	char num[64];
	sb_str(&h, "{");
	if (nmeta > 0) {
		sb_str(&h, "\"__metadata__\":{");
		for (int i = 0; i < nmeta; i++) {
			if (i)
				sb_str(&h, ",");
			sb_json(&h, meta[i][0]);
			sb_str(&h, ":");
			sb_json(&h, meta[i][1]);
		}
		sb_str(&h, "}");
	}
	uint64_t off = 0;
	for (int i = 0; i < n; i++) {
		if (nmeta > 0 || i)
			sb_str(&h, ",");
		sb_json(&h, s[i].name);
		sb_str(&h, ":{\"dtype\":\"");
		sb_str(&h, dtypes[s[i].dtype].name);
		sb_str(&h, "\",\"shape\":[");
		uint64_t numel = 1;
		for (int d = 0; d < s[i].ndim; d++) {
			snprintf(num, sizeof num, "%s%lld", d ? "," : "", (long long)s[i].shape[d]);
			sb_str(&h, num);
			numel *= (uint64_t)s[i].shape[d];
		}
		uint64_t bytes = (uint64_t)dtypes[s[i].dtype].size * numel;
		snprintf(num, sizeof num, "],\"data_offsets\":[%llu,%llu]}", (unsigned long long)off,
		         (unsigned long long)(off + bytes));
		sb_str(&h, num);
		off += bytes;
	}
	sb_str(&h, "}");
	while (h.n % 8)  /* pad with spaces so the data starts 8-byte aligned */
		sb_str(&h, " ");
	if (h.oom) {
		free(h.s);
		free(s);
		return pofa_error(err, POFA_ERR_RUN, "%s: out of memory", path);
	}
	size_t total = 8 + h.n + (size_t)off;
	unsigned char *buf = malloc(total);
	if (!buf) {
		free(h.s);
		free(s);
		return pofa_error(err, POFA_ERR_RUN, "%s: out of memory (%zu bytes)", path, total);
	}
	uint64_t hn = h.n;
	for (int i = 0; i < 8; i++)
		buf[i] = (unsigned char)(hn >> (8 * i));
	memcpy(buf + 8, h.s, h.n);
	unsigned char *p = buf + 8 + h.n;
	for (int i = 0; i < n; i++) {
		size_t bytes = (size_t)dtypes[s[i].dtype].size;
		for (int d = 0; d < s[i].ndim; d++)
			bytes *= (size_t)s[i].shape[d];
		memcpy(p, s[i].data, bytes);
		p += bytes;
	}
	int rc = pofa_write_atomic(path, buf, total, err);
	free(buf);
	free(h.s);
	free(s);
	return rc;
}
