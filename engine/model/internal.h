/*
 * internal.h - the model's insides, shared by its own files: tensors.c (the
 * parameter blocks and their tensor table), model.c (the arena, forward,
 * losses, backward), optim.c (clipping, AdamW, learning-rate schedules),
 * qat.c (quantization-aware training and int8 export), kd.c
 * (distillation) and modeldir.c (files); config.c needs only pofa.h.
 * The engine's tests use the few knobs at the end.
 */
#ifndef POFA_MODEL_INTERNAL_H
#define POFA_MODEL_INTERNAL_H

#include "engine/pofa.h"
#include "engine/kernels/kernels.h"

#include <stddef.h>
#include <stdint.h>

/* Parameter blocks in their internal layout. The query, key and value of a
 * layer are stacked into one (3C, C) matrix (one sgemm), and every per-layer
 * tensor is stacked over layers; pofa_model_tensors() gives the Hugging Face
 * view, one tensor per name, pointing into these blocks. */
enum {
	PT_WTE, PT_WPE, PT_WTT, PT_ELNW, PT_ELNB,
	PT_QKVW, PT_QKVB, PT_AOW, PT_AOB, PT_LN1W, PT_LN1B,
	PT_FCW, PT_FCB, PT_FPW, PT_FPB, PT_LN2W, PT_LN2B,
	PT_POOLW, PT_POOLB,
	PT_TW, PT_TB, PT_TLNW, PT_TLNB, PT_MLMB,
	PT_CLSW, PT_CLSB,
	PT_QAW, PT_QAB,
	PT_COUNT
};

typedef struct {
	float *blk[PT_COUNT];
} param_ptrs;

typedef struct {
	/* saved for backward, per layer (stride given by maxN) */
	float *e, *eln, *h0, *mean0, *rstd0;      /* embeddings */
	float *qkv, *att, *attd, *ctx, *r1, *mean1, *rstd1, *h1, *f, *g, *r2, *mean2, *rstd2, *h2;
	/* f: the FFN's pre-activation, then GELU's derivative at it (all the
	 * backward needs; t1 likewise in the MLM head) */
	/* scratch */
	float *tmp;                               /* (N, C) */
	float *da, *db, *dc, *dctx, *dqkv, *dg;   /* backward */
	/* MLM head */
	float *xm, *t1, *t2, *t3, *meant, *rstdt, *dxm, *dt;
	int *pos, *tgt;
	/* CLS head */
	float *pin, *pooled, *pd, *dpin, *dpooled;
	/* SPAN head */
	float *sse, *dsse;                        /* (2, B, T) start, end */
	/* logits of any head */
	float *logits, *dlogits;
} model_acts;

struct pofa_model {
	pofa_config cfg;
	enum pofa_head head;
	enum pofa_model_use use;
	int maxB, maxT;
	pofa_pool *pool;
	pofa_kern k;

	size_t nparams;
	size_t sizes[PT_COUNT];
	float *params, *grads, *m1, *m2;
	int params_mapped;       /* params are anonymous pages (an inference model): munmap */
	param_ptrs p, g;
	pofa_tensor *tensors;
	int ntensors;
	unsigned char *active;   /* per tensor: gets gradients under this head */
	int32_t **kept;          /* per tensor: the indices the optimizer updates, ascending
	                            (pofa_model_keep); NULL: all of them */
	int64_t *nkept;

	float *arena;
	model_acts a;

	int dropout;
	float saved_drop[3];     /* hidden, attention, classifier: what config.json records */
	uint64_t seed;
	uint64_t fwd_count;      /* training forward passes: dropout streams */
	uint64_t key;            /* dropout key of the last forward */
	int64_t row0;            /* a data-parallel shard's first row in the whole batch */
	pofa_loss_den den;       /* the whole batch's loss denominators (0: this batch's own) */
	void (*range_sum)(float *lo, float *hi);   /* QAT ranges over the shards (NULL: none) */
	void (*layer_done)(void *arg, int layer);  /* backward: a layer's gradients are final */
	void *layer_arg;
	int train;               /* last forward was a training one */
	/* hidden-state distillation for the next backward (pofa_model_kd_hidden) */
	struct {
		const struct pofa_model *t;   /* NULL: none */
		const int *mask;              /* the batch's attention mask (NULL: all tokens) */
		int map[64];
		float coef;                   /* dL/dh = coef (h - h_teacher) */
	} kdh;
	enum pofa_mlm_positions mlm_positions;
	int B, T, nrows;
	float *shared_scratch;

	/* quantization-aware training: fake-quantized prunable weights and
	 * Linear inputs, one input site per prunable Linear of a layer (query,
	 * key and value share one) and one for the pooler */
	int qat, qat_per_channel;
	float *wq;               /* nparams: the quantized copies (prunable only) */
	float *qbuf;             /* (N, max(C, I)): a quantized input */
	int nsites;
	float *qmin, *qmax;      /* EMA of the input range per site */
	float *qscale, *qzp;     /* scale and zero point of the last forward */
	unsigned char *qseen;

	/* a fixed pattern trained through its nonzeros (sparse_train.c): per
	 * prunable Linear site (4 a layer, the pooler), NULL when off; the
	 * channel-major transposes of an input, an output and an output
	 * gradient, sp_ld floats a row */
	struct pofa_sparse_lin *sp;
	int nsp, sp_ld;
	float *spx, *spy, *spd;
	const struct pofa_infer_kern *sp_kern;
};

/* sparse_train.c: a prunable Linear's product, sparse where its site is,
 * else OpenBLAS's (pofa_matmul_forward, pofa_matmul_backward) */
void pofa_lin_forward(pofa_model *m, int site, pofa_kern *k, float *out, const float *inp, const float *w,
                      const float *bias, int N, int C, int OC);
void pofa_lin_backward(pofa_model *m, int site, pofa_kern *k, float *dinp, float *dw, float *dbias,
                       const float *dout, const float *inp, const float *w, int N, int C, int OC, int acc);
void pofa_model_sparse_free(pofa_model *m);


/* the per-layer slice l of a block stacked over layers, n floats a layer */
#define LAYER(ptr, l, n) ((ptr) + (size_t)(l) * (n))

/* ---- tensors.c ----------------------------------------------------------- */

/* 64-byte aligned, zeroed; NULL when out of memory */
void *pofa_alloc_floats(size_t n);
/* the floats of each parameter block of a config under a head */
void pofa_param_sizes(const pofa_config *c, enum pofa_head head, size_t *sizes);
/* pp's blocks pointed into base, one after the other */
void pofa_point_blocks(param_ptrs *pp, float *base, const size_t *sizes);
/* m->tensors: every Hugging Face tensor of the model, into its blocks */
void pofa_build_tensor_table(pofa_model *m);

/* ---- qat.c --------------------------------------------------------------- */

/* the fake-quantized copies of the prunable weights, for a forward pass */
void pofa_qat_quantize_weights(pofa_model *m);
/* uint8 asymmetric fake quantization of a Linear's input at a site (4 a
 * layer: QKV, attention output, FFN in, FFN out; then the pooler). A
 * training forward (observe > 0) updates the range's moving average first;
 * observe < 0 reuses the last forward's scale (backward). Returns x when
 * QAT is off. */
const float *pofa_qat_input(pofa_model *m, int site, const float *x, int64_t n, int observe);

/* ---- for modeldir.c and the tests ---------------------------------------- */

/* dropout stream position, restored with the optimizer state */
void pofa_model_set_fwd_count(pofa_model *m, uint64_t n);
uint64_t pofa_model_seed(const pofa_model *m);
/* Use the naive matrix product instead of cblas_sgemm (the tests' reference). */
void pofa_model_set_naive(pofa_model *m, int naive);
/* QAT's fake-quantized weights (nparams, zero outside prunable tensors) */
const float *pofa_model_qat_weights(const pofa_model *m);
/* kd.c: hidden-state distillation's gradient of layer l's output into dres */
void pofa_kd_hidden_grad(pofa_model *m, int l, float *dres, int N);

#endif
