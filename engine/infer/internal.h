/*
 * internal.h - the forward-only model's insides, shared by infer.c (load,
 * forward) and packed.c (the packed int8 file).
 */
#ifndef POFA_INFER_INTERNAL_H
#define POFA_INFER_INTERNAL_H

#include "engine/infer/infer.h"
#include "engine/kernels/kernels.h"
#include "engine/kernels/pool.h"

#define POFA_ROUND16(n) (((n) + 15) & ~15)
/* the leading dimension of np columns: a multiple of 512 floats (2 KiB)
 * and the rows of a column tile would all fall in the same few cache sets
 * (batch 32 x 128: rows 16 KiB apart), so such widths get 16 floats more */
#define POFA_LD(np) ((np) % 512 ? (np) : (np) + 16)
/* rows a block of the row-wise LayerNorm: its sums are summed block by
 * block in order, the same whatever the number of threads */
#define POFA_LN_ROWS 16

typedef struct {
	pofa_linear qkv, ao, fc, fp;
	float *ln1w, *ln1b, *ln2w, *ln2b;
} inf_layer;

struct pofa_infer {
	pofa_config cfg;
	enum pofa_head head;
	const pofa_infer_kern *kern;
	pofa_pool *pool;
	pofa_kern rk;             /* the row-major kernels of the masked-LM head */
	int nthreads, maxB, maxT, int8;
	int aB, aT;               /* the batch the activations are allocated for (0: none yet) */
	int C, I, NH, L, V;
	/* float weights */
	float *wte, *wpe, *wtt, *elnw, *elnb;
	uint16_t *wte16; /* the word embeddings in float16 (then wte is NULL) */
	inf_layer *lay;
	pofa_linear pooler;
	int has_pooler;
	float *clsw, *clsb, *qaw, *qab;
	float *tw, *tb, *tlnw, *tlnb, *mlmb;
	size_t weight_bytes, act_bytes;
	pofa_st_file *wmap;       /* the weights file, when weights point into its mapping (else NULL) */
	int shares;               /* the weights are another model's (pofa_infer_share): only the
	                             activations and the pool are this one's */
	/* activations, channel-major (rows, ld) */
	float *h, *h1, *qkv, *ctx, *tmp, *f;
	void *x8, *x8b;            /* int8 inputs: a Linear's, and the FFN's second's from its first */
	double *lnsum, *lnsq;     /* LayerNorm by rows: per block of POFA_LN_ROWS rows, (blocks, ld) */
	float *lnmean, *lnrstd;   /* per thread, (nthreads, ld) */
	float *S;                 /* per thread: attention scratch */
	size_t att_per;           /* its floats a thread (64-byte multiple) */
	float *maskadd;           /* (B*T): 0 or the most negative float */
	float *pin, *pooled;      /* (C, round16(B)) */
	/* the head's outputs, row-major */
	float *logits;
	int nrows, ncols;
	int *pos, *tgt;
	float *xm, *t1, *t2, *t3, *mean, *rstd; /* masked-LM rows (M, C) */
	float *sse;               /* span: (2, B*T) */
	/* the forward in progress */
	int B, T, N, ld, np;
	int profile, passes;
	int blas_whole;           /* dense Linears on OpenBLAS's threads (pofa_infer_blas_threads) */
	pofa_infer_gemm_fn gemm;  /* dense Linears' products by another library (pofa_infer_set_gemm) */
	void *gemm_ctx;
	double prof[POFA_INFER_PART_COUNT], t_mark;
};

/* 64-byte aligned, zeroed floats; NULL when out of memory */
float *pofa_infer_falloc(size_t n);
/* the same with only the padding after n zeroed: for floats written in
 * full right after (a page never touched before then is never touched twice) */
float *pofa_infer_falloc_raw(size_t n);
/* a copy of n floats of src (zeros for NULL), counted in the weights held */
float *pofa_infer_fcopy(pofa_infer *inf, const float *src, size_t n);
/* a model of config c with nothing loaded yet: its pool, kernels and layers */
pofa_infer *pofa_infer_shell(const pofa_config *c, enum pofa_head head, int int8, const pofa_infer_opts *o,
                             pofa_err *err);
/* The activation buffers: none at first, then made at a forward for its
 * batch and grown when a larger one comes (up to maxB x maxT): a model
 * opened for 16 x 512 tokens that answers one line touches one line's
 * buffers, not 16 x 512's. count: act_bytes, what maxB x maxT take. */
void pofa_infer_count_acts(pofa_infer *inf);
int pofa_infer_fit_acts(pofa_infer *inf, int B, int T, pofa_err *err);

/* packed.c: the int8 model from model.packed.safetensors of dir */
pofa_infer *pofa_infer_open_packed(const char *dir, const char *path, const pofa_infer_opts *o, pofa_err *err);

/* a packed file's weights (packed.c): 0 float32, 1 int8, -1 unreadable */
int pofa_infer_packed_weights(const char *path);
/* the word embeddings to float16 (opts.emb16); -1: out of memory */
int pofa_infer_emb16(pofa_infer *inf);

#endif
