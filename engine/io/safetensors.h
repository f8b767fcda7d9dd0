/*
 * safetensors.h - the safetensors format (a JSON header of tensor names,
 * dtypes, shapes and byte ranges, then the raw data), read as untrusted
 * input and written as the reference implementation writes it.
 *
 *     pofa_st_file f;
 *     if (pofa_st_open(&f, "model.safetensors", &err)) ...
 *     const pofa_st_tensor *t = pofa_st_find(&f, "bert.pooler.dense.weight");
 *     pofa_st_read_f32(&f, t, out, &err);
 *     pofa_st_close(&f);
 */
#ifndef POFA_IO_SAFETENSORS_H
#define POFA_IO_SAFETENSORS_H

#include "data/base/error.h"

#include <stddef.h>
#include <stdint.h>

/* ---- reading ---------------------------------------------------------------- */

enum pofa_dtype { POFA_F32, POFA_F16, POFA_BF16, POFA_F64, POFA_I64, POFA_I32,
                  POFA_I8, POFA_U8, POFA_BOOL, POFA_U16, POFA_I16, POFA_DTYPE_COUNT };

typedef struct pofa_st_tensor {
	char name[256];
	enum pofa_dtype dtype;
	int ndim;
	int64_t shape[8];
	uint64_t begin, end;  /* byte offsets in the data section */
} pofa_st_tensor;

typedef struct pofa_st_file {
	char path[1024];
	unsigned char *buf;   /* the whole file (mapped, read-only) */
	size_t size;
	int mapped;
	size_t data_off;      /* start of the data section */
	int ntensors;
	pofa_st_tensor *tensors;
	int *by_name;         /* tensor indices sorted by name */
	int nmeta;
	char (*meta)[2][128]; /* __metadata__ key, value */
} pofa_st_file;

/* Reads and validates a safetensors file (untrusted input). */
int pofa_st_open(pofa_st_file *f, const char *path, pofa_err *err);
void pofa_st_close(pofa_st_file *f);
const pofa_st_tensor *pofa_st_find(const pofa_st_file *f, const char *name);
const char *pofa_st_meta(const pofa_st_file *f, const char *key);
/* Converts a tensor to float32 into out (numel floats). */
int pofa_st_read_f32(const pofa_st_file *f, const pofa_st_tensor *t, float *out, pofa_err *err);

/* ---- writing ---------------------------------------------------------------- */

/* Writer: sorted as the reference writer does (dtype alignment, then name),
 * header padded to 8 bytes. dtype 0 is F32. */
typedef struct pofa_st_out {
	const char *name;
	const void *data;
	int ndim;
	int64_t shape[2];
	enum pofa_dtype dtype;  /* F32, I32, I8, U8, U16 */
} pofa_st_out;
int pofa_st_write(const char *path, const pofa_st_out *t, int n,
                  const char *const (*meta)[2], int nmeta, pofa_err *err);

/* "F32", "I8", ... */
const char *pofa_dtype_name(enum pofa_dtype dtype);

/* IEEE float16 <-> float32: exact one way, round to nearest even the other */
float pofa_half_to_float(uint16_t h);
uint16_t pofa_float_to_half(float f);

#endif
