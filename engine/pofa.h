/*
 * pofa.h - the pofa training engine: BERT-like encoders in C.
 *
 * A short tour:
 *
 *     pofa_err err;
 *     pofa_config cfg;
 *     pofa_config_preset(&cfg, "bert-tiny", &err);    // or pofa_config_load()
 *     pofa_model *m = pofa_model_new(&cfg, POFA_HEAD_MLM, B, T, nthreads, &err);
 *     pofa_model_init(m, seed);                        // or pofa_model_load()
 *     pofa_optim opt = pofa_optim_default();
 *     pofa_sched sched = { .kind = POFA_SCHED_LINEAR, .lr = 1e-4, .warmup = 100,
 *                          .total = steps };
 *     for (int64_t step = 0; step < steps; step++) {
 *         float loss = pofa_model_step_loss(m, &batch, 1);  // forward + task loss
 *         pofa_model_backward(m, &batch);
 *         pofa_model_clip_grad(m, 1.0f);
 *         pofa_model_adamw(m, &opt, pofa_lr(&sched, step));
 *     }
 *     pofa_model_save(m, "out/dir", vocab_path, &err);
 *     pofa_model_free(m);
 *
 * Shapes: B batch, T sequence length, C hidden size, NH heads, I intermediate
 * size, V vocabulary, L layers. Linear weights are stored [out, in] as in
 * PyTorch. The engine never prints: errors come back in a pofa_err.
 *
 * Beside this header, installed with it: engine/infer/predict.h (a model
 * folder loaded once and texts predicted from many threads: pofa_infer(3)),
 * engine/infer/infer.h (a model
 * folder run forward-only, packed by its zeros, int8 after QAT),
 * data/text/tokenizer.h (WordPiece), engine/io/safetensors.h (the file
 * format), engine/sparse/sparse.h (pruning masks and methods). In the
 * source tree, engine/run/driver.h runs a whole recipe.
 */
#ifndef POFA_H
#define POFA_H

#include "data/base/error.h"
#include "data/base/util.h"

#include <stddef.h>
#include <stdint.h>

#ifndef POFA_VERSION
#define POFA_VERSION "0.1.0"
#endif

/* ---- heads ----------------------------------------------------------- */

enum pofa_head {
	POFA_HEAD_MLM,   /* masked-LM: transform + decoder tied to word embeddings */
	POFA_HEAD_CLS,   /* sequence classification: pooler + classifier */
	POFA_HEAD_SPAN,  /* span extraction: start/end logits per token */
	POFA_HEAD_COUNT
};
extern const char *const pofa_head_names[]; /* POFA_HEAD_COUNT of them */

/* ---- configuration (Hugging Face BertConfig) --------------------------- */

typedef struct pofa_config {
	int vocab_size;
	int hidden_size;          /* C */
	int num_hidden_layers;    /* L */
	int num_attention_heads;  /* NH */
	int intermediate_size;    /* I */
	int max_position_embeddings;
	int type_vocab_size;
	int pad_token_id;
	int num_labels;           /* sequence classification head */
	float layer_norm_eps;
	float hidden_dropout_prob;
	float attention_probs_dropout_prob;
	float classifier_dropout; /* < 0: use hidden_dropout_prob */
	float initializer_range;
	char label_names[64][64]; /* id2label, when known (num_labels <= 64; names of at most 63 bytes) */
	int tie_word_embeddings;  /* the masked-LM decoder is the word embeddings (pofa's only kind) */
} pofa_config;

/* Fills cfg from a preset name: bert-tiny, bert-mini, bert-small,
 * bert-medium, bert-base. Vocabulary defaults to 30522 as in Google's. */
int pofa_config_preset(pofa_config *cfg, const char *name, pofa_err *err);
const char *pofa_config_preset_names(void);
int pofa_config_load(pofa_config *cfg, const char *path, pofa_err *err);
int pofa_config_save(const pofa_config *cfg, enum pofa_head head, const char *path, pofa_err *err);
int pofa_config_check(const pofa_config *cfg, const char *what, pofa_err *err);

/* ---- the model --------------------------------------------------------- */

/* One batch of examples. Arrays are (B, T) row-major unless noted. */
typedef struct pofa_batch {
	int B, T;
	const int *input_ids;
	const int *token_type_ids;  /* NULL: all zero */
	const int *attention_mask;  /* NULL: all ones */
	const int *mlm_labels;      /* MLM: target id or POFA_IGNORE */
	const int *labels;          /* CLS: (B) */
	const int *start_positions; /* SPAN: (B) */
	const int *end_positions;   /* SPAN: (B) */
} pofa_batch;

/* Which tokens the MLM decoder computes logits for. */
enum pofa_mlm_positions {
	POFA_MLM_MASKED,   /* only where mlm_labels != POFA_IGNORE (fast) */
	POFA_MLM_ALL,      /* every non-padding token (distillation) */
};

typedef struct pofa_model pofa_model;

enum pofa_model_use {
	POFA_MODEL_TRAIN,  /* parameters, gradients, AdamW moments, activations */
	POFA_MODEL_INFER,  /* parameters and activations: forward and losses only */
};

/* Allocates parameters, gradients, AdamW moments and an activation arena
 * for batches up to (maxB, maxT). Nothing else is allocated per step. A
 * model larger than the machine's memory is refused, its size stated. */
pofa_model *pofa_model_new(const pofa_config *cfg, enum pofa_head head, int maxB, int maxT,
                           int nthreads, pofa_err *err);
/* The same for a use: an inference model has no gradients or moments
 * (backward, clipping and AdamW do nothing on it). */
pofa_model *pofa_model_new_for(const pofa_config *cfg, enum pofa_head head, enum pofa_model_use use,
                               int maxB, int maxT, int nthreads, pofa_err *err);
/* parameters a config describes under a head */
size_t pofa_config_num_params(const pofa_config *cfg, enum pofa_head head);
void pofa_model_free(pofa_model *m);
const pofa_config *pofa_model_config(const pofa_model *m);
enum pofa_head pofa_model_head(const pofa_model *m);

/* Hugging Face initialisation: N(0, initializer_range) weights, zero
 * biases, unit LayerNorm, zero padding row; deterministic in seed. */
void pofa_model_init(pofa_model *m, uint64_t seed);
/* The same for every tensor i but those with keep[i] set (keep: one flag
 * per tensor, in pofa_model_tensors' order; NULL: all). A tensor's values
 * depend on the seed and its index alone, so a model loaded from a file
 * that draws only the tensors the file lacks equals one drawn in full and
 * then loaded. */
void pofa_model_init_except(pofa_model *m, uint64_t seed, const unsigned char *keep);

/* Dropout: on in training forward passes unless switched off. */
void pofa_model_set_dropout(pofa_model *m, int enabled);
/* The dropout config.json records when the model is saved (by default the
 * config's): a run that trains with other values keeps them its own. */
void pofa_model_set_saved_dropout(pofa_model *m, float hidden, float attention, float classifier);
void pofa_model_set_seed(pofa_model *m, uint64_t seed);
void pofa_model_set_mlm_positions(pofa_model *m, enum pofa_mlm_positions which);

/* Data-parallel shards (engine/dist/dist.h): a shard of a whole batch runs
 * as its rows would in the whole one. row0 places its first row (dropout
 * masks); den holds the whole batch's loss denominators, so that the
 * shards' losses and gradients sum to the whole batch's means (NULL or
 * zeros: the batch's own). range_sum: called with a QAT input range of a
 * training forward (lo, hi) to make it the whole batch's (min and max over
 * the shards); NULL: none. */
typedef struct pofa_loss_den {
	int64_t task[2];   /* MLM tokens, CLS examples, span starts; span ends */
	int64_t kd;        /* rows the distillation loss averages over */
	int64_t tokens;    /* non-padding tokens (hidden-state distillation) */
} pofa_loss_den;
void pofa_model_set_shard(pofa_model *m, int64_t row0, const pofa_loss_den *den,
                          void (*range_sum)(float *lo, float *hi));
/* the denominators the losses use for batch b (with the current MLM
 * positions), as if it were one batch */
void pofa_model_loss_den(const pofa_model *m, const pofa_batch *b, pofa_loss_den *den);
/* Backward calls fn(arg, l) as soon as encoder layer l's parameter
 * gradients are final (l from the last layer down), so that they can be
 * sent while the layers below are computed; NULL: none. */
void pofa_model_on_layer_grads(pofa_model *m, void (*fn)(void *arg, int layer), void *arg);
/* The gradient ranges of encoder layer l (l >= 0), or of everything that
 * is not per layer (l < 0: embeddings, pooler, heads): up to cap (pointer,
 * length) pairs; returns how many. Together they cover the gradients. */
int pofa_model_grad_ranges(pofa_model *m, int l, float **ptr, size_t *len, int cap);

/* Forward pass up to the head's logits. train: dropout as configured. */
int pofa_model_forward(pofa_model *m, const pofa_batch *b, int train, pofa_err *err);
/* The head's task loss on the last forward pass; also sets the gradient of
 * the logits (scaled by weight) for the next backward. Returns the loss. */
float pofa_model_task_loss(pofa_model *m, const pofa_batch *b, float weight);
/* Forward + task loss with weight 1. Returns the loss, NaN on bad input. */
float pofa_model_step_loss(pofa_model *m, const pofa_batch *b, int train);
/* Backward from the logits' gradient: adds into parameter gradients. */
void pofa_model_backward(pofa_model *m, const pofa_batch *b);
void pofa_model_zero_grad(pofa_model *m);

/* Logits of the last forward pass:
 *  MLM: (n, V) rows for positions pofa_model_logit_positions() (index b*T+t)
 *  CLS: (B, num_labels)
 *  SPAN: (B*T, 2) start and end logit per token */
float *pofa_model_logits(pofa_model *m, int *rows, int *cols);
float *pofa_model_dlogits(pofa_model *m);
const int *pofa_model_logit_positions(const pofa_model *m);

/* Distillation from a teacher's logits of the same batch (same layout as
 * pofa_model_logits): adds weight * T^2 * KL(softmax(t/T) || softmax(s/T)),
 * averaged over rows (MLM tokens, CLS examples, SPAN start and end
 * distributions), into the logits' gradient. Returns the unweighted mean. */
double pofa_model_kd(pofa_model *m, const float *teacher_logits, float T, float weight);
/* Distillation of hidden states, after the forward of m and of teacher on
 * the same batch b: student layer l's output learns teacher layer map[l]'s
 * (map[l] < 0: none) by their mean squared difference over the batch's
 * non-padding tokens and the hidden size, averaged over the mapped layers;
 * the next pofa_model_backward adds weight times its gradient. The models'
 * hidden sizes must be equal. Returns the unweighted loss. */
double pofa_model_kd_hidden(pofa_model *m, const pofa_model *teacher, const pofa_batch *b, const int *map,
                            float weight);

/* Quantization-aware training of every prunable Linear: int8 symmetric
 * weights (per tensor, or per output channel), uint8 asymmetric inputs with
 * a moving-average range (constant 0.01), straight-through gradients. */
int pofa_model_set_qat(pofa_model *m, int enabled, int per_channel, pofa_err *err);
/* Trains the prunable Linears through their nonzeros while their pattern
 * stays fixed (a locked stage): the forward and the input gradient with the
 * weights packed as the forward-only path packs them, the weight gradient
 * only at the nonzeros (zero elsewhere), where the path's cost model packs
 * a Linear sparse on this CPU and thread count (the others stay dense). The
 * pattern is the weights' nonzeros now; the values follow the weights.
 * enabled 0 turns it off. */
int pofa_model_sparse_train(pofa_model *m, int enabled, pofa_err *err);
/* Clipping and AdamW over the weights a fixed pattern keeps only: mask
 * holds a byte per parameter (pofa_masks' block), nonzero where kept, and
 * is read for the prunable tensors. The weights it drops must be zero with
 * zero moments (pofa_masks_apply); no step writes them after, so they stay
 * so, and their gradients are neither read nor masked. The kept weights
 * get the same bits as from the dense masked steps. NULL: every weight
 * again. */
int pofa_model_keep(pofa_model *m, const unsigned char *mask, pofa_err *err);
/* Linears trained sparse, of *total prunable ones (total may be NULL) */
int pofa_model_sparse_count(const pofa_model *m, int *total);
/* How much faster a training pass (forward and backward) is sparse than
 * dense on batch b: the median of reps pairs taken in turn (their range in
 * lo and hi, may be NULL). The model's state is as before (its gradients
 * zero). 0 when nothing trains sparse, or under data-parallel training. */
double pofa_model_sparse_speedup(pofa_model *m, const pofa_batch *b, int reps, double *lo, double *hi);
int pofa_model_qat(const pofa_model *m);
/* the input ranges learned during QAT, to resume or evaluate later */
int pofa_model_qat_save(pofa_model *m, const char *path, pofa_err *err);
int pofa_model_qat_load(pofa_model *m, const char *path, pofa_err *err);
/* dropout stream position (training forward passes so far) */
uint64_t pofa_model_fwd_count(const pofa_model *m);
/* int8 weights, scales, input scale/zero point and int32 biases */
int pofa_model_export_int8(pofa_model *m, const char *path, pofa_err *err);

/* ---- parameters -------------------------------------------------------- */

/* What a tensor is in the model. The prunable Linear weights come first,
 * in the order of a layer's forward pass (query, key, value, attention
 * output, FFN in, FFN out), then the pooler. */
enum pofa_role {
	POFA_ROLE_QUERY, POFA_ROLE_KEY, POFA_ROLE_VALUE, POFA_ROLE_ATTN_OUT,
	POFA_ROLE_FFN_IN, POFA_ROLE_FFN_OUT, POFA_ROLE_POOLER,
	POFA_ROLE_WORD_EMB, POFA_ROLE_POS_EMB, POFA_ROLE_TYPE_EMB, POFA_ROLE_EMB_LN,
	POFA_ROLE_ATTN_LN, POFA_ROLE_FFN_LN,
	POFA_ROLE_MLM_TRANSFORM, POFA_ROLE_MLM_LN, POFA_ROLE_MLM_BIAS,
	POFA_ROLE_CLASSIFIER, POFA_ROLE_QA,
	POFA_ROLE_COUNT
};
#define POFA_ROLE_PRUNABLE_COUNT (POFA_ROLE_POOLER + 1) /* roles that can be pruned */
extern const char *const pofa_role_names[]; /* POFA_ROLE_COUNT of them: "Q", "K", ... "attn-out" */

enum pofa_param_kind { POFA_PARAM_WEIGHT, POFA_PARAM_BIAS };

typedef struct pofa_tensor {
	char name[96];   /* Hugging Face name */
	float *data;     /* into the parameter block */
	float *grad;     /* into the gradient block */
	int ndim;
	int64_t shape[2];
	int64_t numel;
	int layer;                  /* encoder layer, -1 outside the encoder */
	enum pofa_role role;
	enum pofa_param_kind kind;  /* weight (LayerNorm: gamma) or bias (beta) */
	int decay;       /* AdamW weight decay applies (not biases, LayerNorm) */
	int prunable;    /* encoder Linear weights and the pooler */
	int absent;      /* not in the model: the pooler of a masked-LM file that has
	                    none (as Hugging Face's BertForMaskedLM); not saved or pruned */
} pofa_tensor;

/* The model's tensors in Hugging Face naming (query/key/value split). */
int pofa_model_tensors(pofa_model *m, pofa_tensor **out);
/* the tensor of (layer, role, kind), or NULL */
pofa_tensor *pofa_model_tensor(pofa_model *m, int layer, enum pofa_role role, enum pofa_param_kind kind);
/* zeros in a tensor; sparsity of one tensor and of all prunable matrices */
int64_t pofa_tensor_zeros(const pofa_tensor *t);
double pofa_tensor_sparsity(const pofa_tensor *t);
double pofa_model_sparsity(pofa_model *m);
size_t pofa_model_num_params(const pofa_model *m);
float *pofa_model_params(pofa_model *m);
float *pofa_model_grads(pofa_model *m);

/* ---- optimisation ------------------------------------------------------ */

typedef struct pofa_optim {
	double beta1, beta2, eps, weight_decay;   /* doubles, as PyTorch's Python floats */
	int64_t step;     /* updates done so far */
} pofa_optim;

pofa_optim pofa_optim_default(void); /* 0.9, 0.999, 1e-8 (as PyTorch), wd 0.01 */

/* Global L2 norm of the gradients; scales them to max_norm when above it
 * (max_norm <= 0: no clipping). Returns the norm before clipping. */
float pofa_model_clip_grad(pofa_model *m, float max_norm);
/* One AdamW step with PyTorch semantics at learning rate lr. */
void pofa_model_adamw(pofa_model *m, pofa_optim *o, double lr);
float *pofa_model_moment1(pofa_model *m);
float *pofa_model_moment2(pofa_model *m);

/* ---- learning-rate schedules ------------------------------------------ */

enum pofa_sched_kind {
	POFA_SCHED_LINEAR,    /* warmup, then linear decay to 0 at total */
	POFA_SCHED_CONSTANT,  /* warmup, then constant */
	POFA_SCHED_REWIND,    /* linear, rewound at every pruning step (prune-ofa.md) */
};
typedef struct pofa_sched {
	enum pofa_sched_kind kind;
	double lr;         /* peak learning rate */
	int64_t warmup;    /* linear warmup steps */
	int64_t total;     /* total steps (linear decay to 0 at total) */
	int64_t t0, t1, every;  /* REWIND: the pruning window and interval */
} pofa_sched;
/* Learning rate for the update that follows `step` updates, as
 * transformers' get_linear_schedule_with_warmup / constant_with_warmup, or
 * with rewinding: lr * pofa_lr_rewind(step, total, warmup, t0, t1, every). */
double pofa_lr(const pofa_sched *s, int64_t step);
/* The rewinding multiplier: warmup w steps, then inside [t0, t1)
 * (N - P - t + floor((t - t0) / f) f) / (N - P - w), after it
 * (N - t) / (N - P - w); N total steps, P = t1 - t0, f = every. */
double pofa_lr_rewind(int64_t t, int64_t N, int64_t w, int64_t t0, int64_t t1, int64_t f);

/* ---- files ------------------------------------------------------------- */

/* Model directory: config.json, model.safetensors, vocab.txt. */
int pofa_model_save(pofa_model *m, const char *dir, const char *vocab_src, pofa_err *err);
/* Loads a model directory into a new model with the given head. Tensors of
 * other heads are ignored; a head missing from the files is initialised
 * (seed). *fresh_head tells whether that happened. */
pofa_model *pofa_model_load(const char *dir, enum pofa_head head, int maxB, int maxT, int nthreads,
                            uint64_t seed, int *fresh_head, pofa_err *err);
/* The same for a use (an inference model allocates no gradients or
 * moments). The weights file's size is checked against config.json before
 * anything is allocated. */
pofa_model *pofa_model_load_for(const char *dir, enum pofa_head head, enum pofa_model_use use, int maxB,
                                int maxT, int nthreads, uint64_t seed, int *fresh_head, pofa_err *err);
/* The config of a model directory and the head its weights carry
 * (classifier: CLS, qa_outputs: SPAN, else masked LM). */
int pofa_model_dir_head(const char *dir, pofa_config *cfg, enum pofa_head *head, pofa_err *err);
/* Is the weights file at path large enough for the config? Refuses a
 * config describing a model far larger than its file, before allocating. */
int pofa_model_check_size(const pofa_config *cfg, enum pofa_head head, const char *path, pofa_err *err);
/* Loads tensors from a safetensors file into an existing model. */
int pofa_model_load_weights(pofa_model *m, const char *path, int *missing_head, pofa_err *err);
/* The same, encoder layer l of the model from layer src[l] of the file (a
 * student with fewer layers than the model it starts from). */
int pofa_model_load_weights_layers(pofa_model *m, const char *path, const int *src, int *missing_head,
                                   pofa_err *err);
/* A new model's weights: the file's tensors (encoder layer l from the
 * file's src[l]; src NULL: the same layer), then the seed's initial values
 * for the tensors the file lacks (a head), drawn for those alone: the
 * result equals pofa_model_init then pofa_model_load_weights_layers,
 * without drawing values that the file overwrites. */
int pofa_model_load_init(pofa_model *m, const char *path, const int *src, uint64_t seed, int *missing_head,
                         pofa_err *err);
int pofa_model_save_weights(pofa_model *m, const char *path, pofa_err *err);
/* The weights of an open safetensors file seen in place, without a copy:
 * view[i] (one per tensor, in pofa_model_tensors' order; NULL for an
 * absent one) points at tensor i's float32 values inside f's mapping,
 * checked as loading checks them (names, shapes, finite values, a tied
 * decoder); they stay valid while f is open. *viewable is 0 when the file
 * cannot be used in place (another dtype, unaligned values, a head the
 * file lacks, a big-endian machine): load it instead. m's own parameters
 * are not touched (an inference model's are then never paid for). */
struct pofa_st_file;
int pofa_model_view_weights(pofa_model *m, const struct pofa_st_file *f, const float **view, int *viewable,
                            pofa_err *err);
/* The same, leaving the values of each tensor i with unchecked[i] set
 * unchecked (its reader checks them as it reads them). */
int pofa_model_view_weights_but(pofa_model *m, const struct pofa_st_file *f, const float **view, int *viewable,
                                const unsigned char *unchecked, pofa_err *err);

/* Optimizer state (moments, step, RNG) beside the model. */
int pofa_optim_save(pofa_model *m, const pofa_optim *o, const char *path, pofa_err *err);
int pofa_optim_load(pofa_model *m, pofa_optim *o, const char *path, pofa_err *err);

/* ---- threads ---------------------------------------------------------- */

int pofa_model_threads(const pofa_model *m);

#endif
