/*
 * linear.h - a Linear layer's weights packed for the forward-only path, and
 * the kernels that multiply with them, one set per CPU path.
 *
 * Activations are channel-major here: a (C, ld) matrix holds one token per
 * column, ld a multiple of 16 (padding columns are computed too, and stay
 * finite), so that the sparse products vectorise over tokens: for each
 * stored weight w[o][c], y[o][:] += w * x[c][:]. A Linear y = W x + b is
 * packed once, by the zeros it has, into one of:
 *
 *   DENSE  W as it is, multiplied by OpenBLAS's sgemm
 *   CSR    per output row, its nonzeros: value and 16-bit input column;
 *          from the path's csr_from inputs, in chunks of its csr_kc inputs
 *          (csr_kc_sparse for the sparsest rows; all rows' entries of a
 *          chunk, then the next chunk's), so that
 *          the slice of x a chunk reads stays in cache while every row
 *          passes; on the paths that set csr_order (AVX-512), in each
 *          chunk each thread's rows are visited (and their entries
 *          stored) in order of their entries there, so that a row's
 *          loop runs as long as the one before it
 *   B14    per output row, its nonzero 1x4 blocks along the input: the
 *          block's first column and four values
 *   NM     every group of M inputs of a row holds N stored values: value
 *          and 8-bit offset in the group, no row pointers
 *   I8     int8 weights in 1x4 blocks (dense rows are all blocks): the
 *          integer product of uint8 inputs, int32 accumulation; on a path
 *          that sums pairs of products in 16 bits (vpmaddubsw), a pair of
 *          a block's weights whose magnitudes add up to more than
 *          POFA_I8_PAIR_MAX keeps its first weight in the block and moves
 *          the second to a split-off block, so that no 16-bit sum can
 *          saturate (255 x 128 = 32640 < 32767)
 *
 * Rows are split over the threads by their number of stored values (I8:
 * at multiples of 4 rows, so that a quantized output's lanes are whole).
 */
#ifndef POFA_INFER_LINEAR_H
#define POFA_INFER_LINEAR_H

#include "engine/kernels/cpu.h"

#include <stddef.h>
#include <stdint.h>

enum pofa_linear_fmt { POFA_LIN_DENSE, POFA_LIN_CSR, POFA_LIN_B14, POFA_LIN_NM, POFA_LIN_I8, POFA_LINEAR_FMT_COUNT };

extern const char *const pofa_linear_fmt_names[]; /* POFA_LINEAR_FMT_COUNT of them */

/* how int8 inputs are laid out for a path's integer product */
enum pofa_x8_layout {
	POFA_X8_U8X4,    /* uint8 q, 4 channels a 32-bit lane (vpdpbusd) */
	POFA_X8_S16X2,   /* int16 q - zero point, 2 channels a lane (the portable path) */
};

/* the largest |w_a| + |w_b| of a pair of weights that a pair-sum path
 * multiplies into one 16-bit sum: with uint8 inputs, 255 x 128 = 32640
 * stays below vpmaddubsw's saturation at 32767 */
#define POFA_I8_PAIR_MAX 128

typedef struct pofa_linear {
	enum pofa_linear_fmt fmt;
	int OC, C;             /* outputs, inputs */
	int nm_n, nm_m;        /* NM: N stored of every M */
	int gelu;              /* the output goes through exact GELU */
	int64_t nnz;           /* nonzero weights */
	int64_t stored;        /* values held (4 a block for B14 and I8) */
	float *bias;           /* OC */
	float *dense;          /* DENSE: (OC, C) */
	int dense_borrowed;    /* dense is not l's to free (pofa_linear_pack_w) */
	int csr_borrowed;      /* CSR: col and val are not l's to free (pofa_linear_pack_csr_borrow) */
	int32_t *rowptr;       /* CSR, B14, I8: OC + 1 offsets, in entries or blocks */
	int nch;               /* CSR: input chunks (1: not chunked) */
	int32_t *crp;          /* CSR: nch x (OC + 1) offsets: the entries chunk h holds at
	                          place j are crp[h (OC + 1) + j] .. [.. + j + 1]; rowptr when
	                          nch is 1 */
	int32_t *ord;          /* CSR: nch x OC, the row chunk h holds at place j (NULL: row j, on
	                          paths without csr_order and for a CSR used in place from a
	                          file's mapping):
	                          within each thread's rows, by their entries in the chunk */
	uint16_t *col;         /* CSR: the column; B14, I8: a block's first column */
	uint8_t *off;          /* NM: the column within its group */
	float *val;            /* CSR, NM: a value an entry; B14: four a block */
	int8_t *q;             /* I8: four a block */
	int32_t *fixptr;       /* I8 on a pair-sum path: OC + 1 offsets of each row's split-off
	                          blocks (NULL on other paths) */
	uint16_t *fixcol;      /* I8: a split-off block's first column (its block's) */
	int8_t *fixq;          /* I8: four a split-off block, the weights moved out of q */
	float *wscale;         /* I8: per output, the weight's scale (times in_scale: the product's) */
	int32_t *qsum;         /* I8: per output, the sum of its weights (for the zero point) */
	float in_scale, in_inv; /* I8: the input's scale and its inverse, as QAT computes them */
	int in_zp;             /* I8: the input's zero point */
	enum pofa_x8_layout x8;
	int nsplit;            /* threads the rows are split for */
	int *split;            /* nsplit + 1 row boundaries */
	size_t bytes;          /* memory held */
} pofa_linear;

/* an int8 product's output quantized for the int8 Linear that reads it, in
 * the path's layout, instead of written in float: x8 (the consumer's
 * input buffer, ld columns), its inverse scale and zero point. Rows are
 * quantized in groups of 4 (r0 a multiple of 4: packing aligns the
 * threads' row split so), the last group padded as the quantizer pads. */
typedef struct pofa_qout {
	void *x8;
	float inv;
	int zp;
} pofa_qout;

/* the kernels of one CPU path; y, x: channel-major with leading dimension
 * ld, np (a multiple of 16, <= ld) columns computed; rows [r0, r1) */
/* attention: see pofa_infer_kern */
typedef void pofa_att_fn(float *ctx, const float *q, const float *k, const float *v, const float *add, int T, int hs,
                         int ld, float scale, float *w);

typedef struct pofa_infer_kern {
	enum pofa_cpu_path path;
	enum pofa_x8_layout x8;
	/* the integer product sums pairs of uint8 x int8 products in 16 bits
	 * (vpmaddubsw): I8 is packed with pairs split (POFA_I8_PAIR_MAX) */
	int i8_pairs;
	/* CSR is packed in chunks of csr_kc inputs when it has csr_from inputs
	 * or more, of csr_kc_sparse (a multiple of csr_kc, or 0: none) when
	 * its rows have under 8 nonzeros a csr_kc chunk (kern_avx512.c and
	 * kern_avx2.c say how they were chosen) */
	int csr_kc, csr_kc_sparse, csr_from;
	/* CSR's rows put in visiting order (pofa_linear.ord) where it is
	 * not 0 (pack.c's visit_order says where it gained and where not) */
	int csr_order;
	/* y = W x + b (GELU after when w->gelu) for CSR, B14 and NM */
	void (*sparse)(const pofa_linear *w, float *y, const float *x, int ld, int np, int r0, int r1);
	/* the same for I8, x8 quantized by quant in this path's layout; qo:
	 * the output quantized for the next int8 Linear instead (y unused) */
	void (*int8)(const pofa_linear *w, float *y, const void *x8, int ld, int np, int r0, int r1,
	             const pofa_qout *qo);
	/* x8 rows of C channels (padded to a multiple of 4 with the zero
	 * point), columns [n0, n1): q = clamp(rint(x * inv) + zp, 0, 255) */
	void (*quant)(void *x8, const float *x, int C, int ld, int n0, int n1, float inv, int zp);
	/* rows [r0, r1) of y (ld): y += bias[r], then GELU when gelu */
	void (*bias_act)(float *y, const float *bias, int ld, int np, int r0, int r1, int gelu);
	/* columns [n0, n1) (a multiple of 16 wide): y = LayerNorm over the C
	 * rows of x + res (res may be NULL); y may be x */
	void (*layernorm)(float *y, const float *x, const float *res, const float *w, const float *b,
	                  int C, int ld, int n0, int n1, float eps);
	/* LayerNorm by rows, in two steps over blocks of rows (between the
	 * steps every block's sums must be in): rows [r0, r1) of y = x + res,
	 * and sum[n] and sq[n] the sums of y and y^2 by column in double (the
	 * variance E[y^2] - E[y]^2 then loses nothing that matters); then
	 * y = (y - mean) rstd w + b */
	void (*ln_sum)(float *y, const float *x, const float *res, int ld, int np, int r0, int r1, double *sum,
	               double *sq);
	void (*ln_norm)(float *y, const float *mean, const float *rstd, const float *w, const float *b, int ld,
	                int np, int r0, int r1);
	/* one head of one sequence of T tokens: q, k, v and ctx point at the
	 * head's first row (hs rows) and the sequence's first column, rows ld
	 * apart; ctx = V softmax(scale K^T Q + add) column by column (add: T
	 * offsets of the keys, 0 or the most negative float, or NULL); w:
	 * scratch of pofa_att_scratch(T, hs) floats, 64-byte aligned */
	pofa_att_fn *attention;
	/* the same for int8 models, where a path has its own (NULL: attention):
	 * avx512-bf16's rounds Q, K, V and the exponentials to bfloat16 */
	pofa_att_fn *attention_i8;
	/* packing: the nonzeros of r[c0, c1) into col and val from entry e
	 * on, in column order; returns the entry after the last. It may write
	 * one entry past it (that entry must exist: packing allocates it, and
	 * fills in an order that writes over it afterwards) */
	int64_t (*nonzeros)(const float *r, int c0, int c1, uint16_t *col, float *val, int64_t e);
} pofa_infer_kern;

/* floats of attention scratch for T tokens and head size hs (either
 * attention: attention_i8's pairs of V take another hs x Tp/2) */
static inline size_t pofa_att_scratch(int T, int hs)
{
	size_t Tp = (size_t)((T + 15) & ~15);
	return (2 * (size_t)hs + (size_t)T + 2) * Tp + (size_t)hs * (Tp / 2);
}

/* the kernels of path p (the portable ones where p's are not built) */
const pofa_infer_kern *pofa_infer_kern_for(enum pofa_cpu_path p);

/* ---- packing (pack.c) ---------------------------------------------------- */

/* per path and thread count, the sparsity from which CSR beats OpenBLAS,
 * and B14's block sparsity, as bench infer --sweep measured them (pack.c) */
double pofa_linear_break_even(enum pofa_cpu_path p, enum pofa_linear_fmt f, int threads);

/* Packs w (OC, C) with bias (OC) into the fastest format for kern's path
 * (force >= 0: that float format, where the zeros allow it); threads: the
 * split. Returns 0, or -1 out of memory. */
int pofa_linear_pack(pofa_linear *l, const float *w, const float *bias, int OC, int C, int gelu,
                     const pofa_infer_kern *kern, int threads, int force);
/* How pofa_linear_pack_w treats w when the dense format is chosen: copied;
 * borrowed (w outlives l: a file's mapping); given (w is malloc's and l's
 * from now on, kept as the dense storage or freed). */
enum pofa_wkeep { POFA_W_COPY, POFA_W_BORROW, POFA_W_GIVE };
int pofa_linear_pack_w(pofa_linear *l, const float *w, enum pofa_wkeep keep, const float *bias, int OC, int C,
                       int gelu, const pofa_infer_kern *kern, int threads, int force);
/* Where pofa_linear_pack_src finds a matrix: nparts matrices stacked (Q,
 * K and V into one product), each (OC / nparts, C) at part[p], where its
 * values lie (the dense format keeps or copies them from there). read, when
 * set, copies n rows of part p from row `row` on into buf instead (0, or -1
 * when it cannot): a file read by pread costs a virtual machine a fraction
 * of faulting its mapping in. check: the values are checked finite on the
 * way; a NaN or infinity is returned as bad_part, bad_at (its element in
 * the part) and bad_val. */
typedef struct pofa_pack_src {
	const float *const *part;
	int nparts;
	int (*read)(void *ctx, int part, int64_t row, int n, float *buf);
	void *ctx;
	int check;
	int bad_part;
	int64_t bad_at;
	float bad_val;
} pofa_pack_src;
/* pofa_linear_pack_w of such a source, reading it twice and holding none
 * of it but what the format keeps. Returns 0; -1 out of memory; -2 a read
 * failed; -3 a value is not finite (src->bad_*). keep applies to every
 * part. */
int pofa_linear_pack_src(pofa_linear *l, pofa_pack_src *src, enum pofa_wkeep keep, const float *bias, int OC,
                         int C, int gelu, const pofa_infer_kern *kern, int threads, int force);
/* Packs a matrix given by its nonzeros, each row's columns increasing
 * (rowptr OC + 1, col and val rowptr[OC]; all three malloc's and l's from
 * now on, kept or freed): CSR as it is when the cost model chooses CSR,
 * else through the dense matrix. Returns 0, or -1 out of memory. */
int pofa_linear_pack_csr(pofa_linear *l, int32_t *rowptr, uint16_t *col, float *val, const float *bias, int OC,
                         int C, int gelu, const pofa_infer_kern *kern, int threads, int force);
/* The same with col and val borrowed (read, not freed; they must outlive
 * l, as a file mapping does): unchunked CSR points at them, chunked CSR
 * and the other formats copy what they need. rowptr is l's as above. */
int pofa_linear_pack_csr_borrow(pofa_linear *l, int32_t *rowptr, const uint16_t *col, const float *val,
                                const float *bias, int OC, int C, int gelu, const pofa_infer_kern *kern, int threads,
                                int force);
/* A float Linear's nonzeros by row, columns increasing: rowptr (OC + 1),
 * col and val (room for l->nnz); returns how many, -1 for I8. */
int64_t pofa_linear_csr(const pofa_linear *l, int32_t *rowptr, uint16_t *col, float *val);
/* Packs int8 weights q (OC, C), scale per output row (or one: per_row 0),
 * the input's scale and zero point, float bias. */
int pofa_linear_pack_int8(pofa_linear *l, const int8_t *q, const float *wscale, int per_row,
                          float in_scale, int in_zp, const float *bias, int OC, int C, int gelu,
                          const pofa_infer_kern *kern, int threads);
/* an I8 block's four weights as they were packed (q and any part split
 * off): row o, block e of rowptr[o] .. rowptr[o + 1] */
void pofa_linear_i8_block(const pofa_linear *l, int o, int64_t e, int8_t out[4]);
void pofa_linear_free(pofa_linear *l);

/* y rows [r0, r1) = the Linear on x (x8: x quantized, for I8), np columns;
 * qo (I8 only, else NULL): the rows quantized into qo->x8 instead of y */
void pofa_linear_rows(const pofa_linear *l, const pofa_infer_kern *kern, float *y, const float *x,
                      const void *x8, int ld, int np, int r0, int r1, const pofa_qout *qo);

/* bytes of the int8 input buffer for C channels and ld columns */
size_t pofa_x8_bytes(enum pofa_x8_layout x8, int C, int ld);

/* the first lane of channel c (a multiple of 4) in an int8 input buffer */
static inline uint32_t *pofa_x8_lanes(enum pofa_x8_layout x8, void *buf, int c, int ld)
{
	return (uint32_t *)buf + (size_t)(c / (x8 == POFA_X8_U8X4 ? 4 : 2)) * ld;
}

#endif
