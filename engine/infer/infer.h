/*
 * infer.h - the forward-only path: a model directory run as fast as its
 * zeros and its int8 weights allow, for pofa eval, eval stages, pofa
 * predict and pofa bench infer.
 *
 * It holds no gradients, no moments and no training arena: the encoder's
 * Linear weights packed by their sparsity (linear.h; Q, K and V as one
 * product), float copies of the rest, and activation buffers for at most
 * maxB x maxT tokens, channel-major. A QAT model runs its int8 weights with
 * integer products (uint8 inputs at the ranges QAT learned, int32 sums),
 * as QAT's simulated evaluation computes them.
 */
#ifndef POFA_INFER_H
#define POFA_INFER_H

#include "engine/infer/linear.h"
#include "engine/io/safetensors.h"
#include "engine/pofa.h"

typedef struct pofa_infer pofa_infer;

enum pofa_infer_int8 {
	POFA_INT8_AUTO,     /* int8 where the directory has model.int8.safetensors */
	POFA_INT8_OFF,      /* float, always */
	POFA_INT8_ON,       /* int8, or an error */
};

typedef struct pofa_infer_opts {
	int maxB, maxT;             /* the largest batch (B x T) a forward takes */
	int threads;
	enum pofa_infer_int8 int8;
	int force_fmt;              /* -1: each Linear's fastest format; else that float format */
	int cpu;                    /* -1: pofa_cpu_path(); else an enum pofa_cpu_path */
	int emb16;                  /* int8: the word embeddings rounded to float16, as the packed
	                               file holds them (and held so, unless the MLM head needs float) */
} pofa_infer_opts;

/* what a loaded model is */
typedef struct pofa_infer_info {
	enum pofa_cpu_path path;
	int int8;
	int linears[POFA_LINEAR_FMT_COUNT];   /* packed Linears a format */
	double sparsity;              /* of the packed Linears' weights */
	size_t weight_bytes;          /* all weights held, packed */
	size_t act_bytes;             /* activation buffers */
	size_t dense_bytes;           /* the same model's float32 weights */
} pofa_infer_info;

/* Loads DIR (the head its weights carry): from model.packed.safetensors
 * when it has one (an int8 one when int8 is not OFF and no format is
 * forced), else from model.safetensors (and model.int8.safetensors). Bad
 * files: POFA_ERR_INPUT. */
pofa_infer *pofa_infer_open(const char *dir, const pofa_infer_opts *o, pofa_err *err);
/* From a loaded model m (its weights copied, so m may be freed after) and,
 * for int8, its model.int8.safetensors (else NULL; path for messages). */
pofa_infer *pofa_infer_from_model(pofa_model *m, const pofa_st_file *int8, const pofa_infer_opts *o,
                                  pofa_err *err);
void pofa_infer_free(pofa_infer *inf);
/* Another forward-only model on base's weights, with activations and
 * threads of its own, so that two threads run passes at once (base is
 * only read; it must outlive the share, which is freed with
 * pofa_infer_free). NULL when out of memory. */
pofa_infer *pofa_infer_share(const pofa_infer *base, pofa_err *err);
/* The model as one file (packed.c), model.packed.safetensors: what the
 * int8 or float32 forward path holds and nothing else, read back by
 * pofa_infer_open without model.safetensors and without packing again. */
int pofa_infer_save_packed(const pofa_infer *inf, const char *path, pofa_err *err);

/* A forward pass. Logits as pofa_model_logits lays them out: (B, labels),
 * (B*T, 2) start and end, or (rows, vocabulary) at the masked-LM positions
 * (where mlm_labels != POFA_IGNORE, or every non-padding token when
 * mlm_labels is NULL). */
int pofa_infer_forward(pofa_infer *inf, const pofa_batch *b, pofa_err *err);
const float *pofa_infer_logits(const pofa_infer *inf, int *rows, int *cols);
const int *pofa_infer_logit_positions(const pofa_infer *inf);
/* the task's mean loss over the last forward's batch, as pofa_model_task_loss */
float pofa_infer_task_loss(pofa_infer *inf, const pofa_batch *b);

/* where the forward passes' time goes, when profiling is on: seconds per
 * part, summed over the passes since it was turned on */
enum pofa_infer_part {
	POFA_PART_EMBED, POFA_PART_QKV, POFA_PART_ATTENTION, POFA_PART_ATTN_OUT, POFA_PART_FFN_IN,
	POFA_PART_FFN_OUT, POFA_PART_LAYERNORM, POFA_PART_QUANTIZE, POFA_PART_HEAD, POFA_INFER_PART_COUNT
};
extern const char *const pofa_infer_part_names[]; /* POFA_INFER_PART_COUNT of them */
void pofa_infer_profile(pofa_infer *inf, int on);
/* on: each dense Linear is one OpenBLAS call on OpenBLAS's own threads (as
 * many as the model's) instead of its rows split over the model's threads,
 * each calling OpenBLAS on one; on some CPUs (a 2-core AMD EPYC: 1.9x) the
 * faster. The thread count is OpenBLAS's, for the whole process: only for a
 * process in which nothing else calls OpenBLAS meanwhile. Off by default. */
void pofa_infer_blas_threads(pofa_infer *inf, int on);
/* fn (not NULL): each dense Linear's product y = W x is fn's, one call on
 * the calling thread, in place of OpenBLAS (the bias and GELU stay
 * pofa's): W (M, K) row-major, x (K, N) and y (M, N) with leading
 * dimension ld. For measuring another library's dense product in the same
 * whole pass (bench/peers.c --pass); NULL: OpenBLAS again. */
typedef void (*pofa_infer_gemm_fn)(void *ctx, int M, int N, int K, const float *w, const float *x, int ld,
                                   float *y);
void pofa_infer_set_gemm(pofa_infer *inf, pofa_infer_gemm_fn fn, void *ctx);
const double *pofa_infer_profiled(const pofa_infer *inf, int *passes);

const pofa_config *pofa_infer_config(const pofa_infer *inf);
enum pofa_head pofa_infer_head(const pofa_infer *inf);
void pofa_infer_describe(const pofa_infer *inf, pofa_infer_info *info);

#endif
